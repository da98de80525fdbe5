/** The native combine against pg_combinebackup 18 and pg_verifybackup 18, forky root (combine-chain/oracle.ts). */
import { combineOracle } from './combine-chain/oracle.js';

combineOracle(18);
