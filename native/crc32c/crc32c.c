/*
 * CRC-32C (Castagnoli) for manifest checksums, on the CPU's SSE 4.2 CRC instruction with three
 * independent streams: the instruction takes three cycles and issues one per cycle, so one
 * dependent chain (what @node-rs/crc32 and PostgreSQL run) leaves two thirds of it idle. The three
 * block CRCs are joined with precomputed "append L zero bytes" tables (the CRC register is linear
 * in its start value). Built by node-gyp at install; where it cannot be (no compiler, not x86-64)
 * or the CPU lacks SSE 4.2, checksums.ts uses @node-rs/crc32 instead.
 */
#include <node_api.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#include <nmmintrin.h>

/* Bytes per stream in one round: 3 x 4 KiB. */
#define BLOCK 4096

/* shift_block[k][b]: the register value b at byte k moved past BLOCK zero bytes; [4..7]: 2 x BLOCK. */
static uint32_t shift_tables[8][256];

__attribute__((target("sse4.2"))) static uint32_t shift_slow(uint32_t crc, size_t bytes) {
  uint64_t c = crc;
  for (size_t i = 0; i < bytes; i += 8) c = _mm_crc32_u64(c, 0);
  return (uint32_t)c;
}

__attribute__((target("sse4.2"))) static void build_tables(void) {
  for (int k = 0; k < 4; k++) {
    uint32_t one[8], two[8];
    for (int bit = 0; bit < 8; bit++) {
      one[bit] = shift_slow((uint32_t)1 << (8 * k + bit), BLOCK);
      two[bit] = shift_slow((uint32_t)1 << (8 * k + bit), 2 * BLOCK);
    }
    for (int b = 0; b < 256; b++) {
      uint32_t s1 = 0, s2 = 0;
      for (int bit = 0; bit < 8; bit++)
        if (b & (1 << bit)) {
          s1 ^= one[bit];
          s2 ^= two[bit];
        }
      shift_tables[k][b] = s1;
      shift_tables[4 + k][b] = s2;
    }
  }
}

static inline uint32_t shift(uint32_t crc, int twice) {
  const uint32_t(*t)[256] = shift_tables + (twice ? 4 : 0);
  return t[0][crc & 0xff] ^ t[1][(crc >> 8) & 0xff] ^ t[2][(crc >> 16) & 0xff] ^ t[3][crc >> 24];
}

/* The raw register (no inversions) after `data`, starting from `crc`. */
__attribute__((target("sse4.2"))) static uint32_t crc_raw(uint32_t crc, const uint8_t *data, size_t length) {
  uint64_t c0 = crc;
  while (length > 0 && ((uintptr_t)data & 7) != 0) {
    c0 = _mm_crc32_u8((uint32_t)c0, *data++);
    length--;
  }
  while (length >= 3 * BLOCK) {
    uint64_t c1 = 0, c2 = 0;
    const uint8_t *a = data, *b = data + BLOCK, *c = data + 2 * BLOCK;
    for (size_t i = 0; i < BLOCK; i += 8) {
      uint64_t wa, wb, wc;
      memcpy(&wa, a + i, 8);
      memcpy(&wb, b + i, 8);
      memcpy(&wc, c + i, 8);
      c0 = _mm_crc32_u64(c0, wa);
      c1 = _mm_crc32_u64(c1, wb);
      c2 = _mm_crc32_u64(c2, wc);
    }
    c0 = shift((uint32_t)c0, 1) ^ shift((uint32_t)c1, 0) ^ (uint32_t)c2;
    data += 3 * BLOCK;
    length -= 3 * BLOCK;
  }
  while (length >= 8) {
    uint64_t w;
    memcpy(&w, data, 8);
    c0 = _mm_crc32_u64(c0, w);
    data += 8;
    length -= 8;
  }
  while (length > 0) {
    c0 = _mm_crc32_u8((uint32_t)c0, *data++);
    length--;
  }
  return (uint32_t)c0;
}

static int has_sse42(void) {
  unsigned int eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
  return (ecx & bit_SSE4_2) != 0;
}
#endif

/* crc32c(buffer, crc = 0): the CRC-32C of the bytes, continuing from `crc` (a previous result). */
static napi_value Crc32c(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  void *data = NULL;
  size_t length = 0;
  if (argc < 1 || napi_get_buffer_info(env, argv[0], &data, &length) != napi_ok) {
    napi_throw_type_error(env, NULL, "crc32c: the first argument must be a Buffer");
    return NULL;
  }
  uint32_t crc = 0;
  if (argc > 1 && napi_get_value_uint32(env, argv[1], &crc) != napi_ok) {
    napi_throw_type_error(env, NULL, "crc32c: the second argument must be a number");
    return NULL;
  }
  napi_value result = NULL;
#if defined(__x86_64__)
  uint32_t value = ~crc_raw(~crc, (const uint8_t *)data, length);
  napi_create_uint32(env, value, &result);
#endif
  return result;
}

static napi_value Init(napi_env env, napi_value exports) {
#if defined(__x86_64__)
  if (!has_sse42()) return exports; /* no crc32c export: the caller uses its fallback */
  build_tables();
  napi_value fn;
  if (napi_create_function(env, "crc32c", NAPI_AUTO_LENGTH, Crc32c, NULL, &fn) == napi_ok)
    napi_set_named_property(env, exports, "crc32c", fn);
#else
  (void)Crc32c;
#endif
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
