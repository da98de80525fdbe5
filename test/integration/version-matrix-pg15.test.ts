/** The version matrix on PostgreSQL 15: every backup method, recovered and started (version-matrix/matrix.ts). */
import { versionMatrix } from './version-matrix/matrix.js';

versionMatrix(15);
