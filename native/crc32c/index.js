'use strict';
// The addon's crc32c, or null when it was not built or the CPU has no SSE 4.2.
let crc32c = null;
try {
  crc32c = require('./build/Release/crc32c.node').crc32c ?? null;
} catch {
  crc32c = null;
}
module.exports = { crc32c };
