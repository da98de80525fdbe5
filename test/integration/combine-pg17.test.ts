/** The native combine against pg_combinebackup 17 and pg_verifybackup 17 (combine-chain/oracle.ts). */
import { combineOracle } from './combine-chain/oracle.js';

combineOracle(17);
