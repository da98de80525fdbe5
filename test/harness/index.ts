// The real-parts test rig: throwaway PostgreSQL clusters, a private sshd and a local S3 server.
export * from './postgres.js';
export * from './s3.js';
export * from './sshd.js';
export * from './tmp.js';
export * from './processes.js';
export * from './barman.js';
export * from './restore.js';
export * from './standby.js';
export * from './fault-proxy.js';
export * from './tools.js';
export * from './chaos.js';
export * from './fixtures.js';
export * from './config.js';
export * from './debian13.js';
export * from './prometheus.js';
export * from './incremental-chains.js';
export * from './gpg.js';
