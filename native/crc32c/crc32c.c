/*
 * CRC-32C (Castagnoli) for manifest checksums, on the CPU's SSE 4.2 CRC instruction with three
 * independent streams: the instruction takes three cycles and issues one per cycle, so one
 * dependent chain (what @node-rs/crc32 and PostgreSQL run) leaves two thirds of it idle. The three
 * block CRCs are joined with precomputed "append L zero bytes" tables (the CRC register is linear
 * in its start value). Built by node-gyp at install; where it cannot be (no compiler, not x86-64)
 * or the CPU lacks SSE 4.2, checksums.ts uses @node-rs/crc32 instead.
 *
 * crc32cFile reads a file and checksums it on libuv's thread pool (napi_async_work), so a caller
 * verifying many files (verify-backup, through PosixStorage.checksumFile) makes one call per file
 * instead of one per read on Node's main thread, and files are checksummed in parallel.
 */
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

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

/* One crc32cFile call: its arguments, its buffer and its answer (set on a pool thread). */
typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  char *path;
  int64_t offset;
  int64_t length; /* -1: to the end of the file */
  size_t head_bytes;
  size_t buffer_bytes;
  uint32_t crc;
  int64_t bytes;
  uint8_t head[64];
  size_t head_length;
  int error;           /* errno of the failed call, 0 when none */
  const char *syscall; /* "open", "read" or "malloc" */
} FileJob;

#if defined(__x86_64__)
static void ReadAndChecksum(napi_env env, void *data) {
  (void)env;
  FileJob *job = (FileJob *)data;
  uint8_t *buffer = malloc(job->buffer_bytes);
  if (buffer == NULL) {
    job->error = ENOMEM;
    job->syscall = "malloc";
    return;
  }
  int fd = open(job->path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    job->error = errno;
    job->syscall = "open";
    free(buffer);
    return;
  }
#ifdef POSIX_FADV_SEQUENTIAL
  posix_fadvise(fd, job->offset, job->length < 0 ? 0 : job->length, POSIX_FADV_SEQUENTIAL);
#endif
  uint32_t crc = ~(uint32_t)0;
  int64_t position = job->offset;
  for (;;) {
    size_t want = job->buffer_bytes;
    if (job->length >= 0) {
      int64_t left = job->length - job->bytes;
      if (left <= 0) break;
      if ((int64_t)want > left) want = (size_t)left;
    }
    ssize_t got = pread(fd, buffer, want, position);
    if (got < 0) {
      if (errno == EINTR) continue;
      job->error = errno;
      job->syscall = "read";
      break;
    }
    if (got == 0) break;
    if (job->head_length < job->head_bytes) {
      size_t take = job->head_bytes - job->head_length;
      if (take > (size_t)got) take = (size_t)got;
      memcpy(job->head + job->head_length, buffer, take);
      job->head_length += take;
    }
    crc = crc_raw(crc, buffer, (size_t)got);
    position += got;
    job->bytes += got;
  }
  job->crc = ~crc;
  close(fd);
  free(buffer);
}
#endif

/* Node's shape of a failed system call: message "ENOENT: no such file or directory, open 'p'". */
static napi_value SystemError(napi_env env, FileJob *job) {
  const char *code = uv_err_name(-job->error);
  char message[512];
  snprintf(message, sizeof message, "%s: %s, %s '%s'", code, uv_strerror(-job->error), job->syscall, job->path);
  napi_value error, text, value;
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &text);
  napi_create_error(env, NULL, text, &error);
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &value);
  napi_set_named_property(env, error, "code", value);
  napi_create_int32(env, -job->error, &value);
  napi_set_named_property(env, error, "errno", value);
  napi_create_string_utf8(env, job->syscall, NAPI_AUTO_LENGTH, &value);
  napi_set_named_property(env, error, "syscall", value);
  napi_create_string_utf8(env, job->path, NAPI_AUTO_LENGTH, &value);
  napi_set_named_property(env, error, "path", value);
  return error;
}

static void Settle(napi_env env, napi_status status, void *data) {
  FileJob *job = (FileJob *)data;
  if (status != napi_ok && job->error == 0) {
    job->error = ECANCELED;
    job->syscall = "read";
  }
  if (job->error != 0) {
    napi_reject_deferred(env, job->deferred, SystemError(env, job));
  } else {
    napi_value result, value;
    napi_create_object(env, &result);
    napi_create_uint32(env, job->crc, &value);
    napi_set_named_property(env, result, "crc", value);
    napi_create_double(env, (double)job->bytes, &value);
    napi_set_named_property(env, result, "bytes", value);
    if (job->head_bytes > 0) {
      void *copy = NULL;
      napi_create_buffer_copy(env, job->head_length, job->head, &copy, &value);
    } else {
      napi_get_null(env, &value);
    }
    napi_set_named_property(env, result, "head", value);
    napi_resolve_deferred(env, job->deferred, result);
  }
  napi_delete_async_work(env, job->work);
  free(job->path);
  free(job);
}

/*
 * crc32cFile(path, offset, length, headBytes, bufferBytes): a Promise of { crc, bytes, head }:
 * the CRC-32C of up to `length` bytes (-1: to the end) from `offset`, how many were read (fewer
 * at the end of the file), and a copy of the first `headBytes` (at most 64; null when 0). A failed
 * open or read rejects with an Error shaped like Node's fs errors (code, errno, syscall, path).
 */
static napi_value Crc32cFile(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  size_t path_length = 0;
  int64_t offset = 0, length = -1, head_bytes = 0, buffer_bytes = 128 << 10;
  if (argc < 5 || napi_get_value_string_utf8(env, argv[0], NULL, 0, &path_length) != napi_ok ||
      napi_get_value_int64(env, argv[1], &offset) != napi_ok ||
      napi_get_value_int64(env, argv[2], &length) != napi_ok ||
      napi_get_value_int64(env, argv[3], &head_bytes) != napi_ok ||
      napi_get_value_int64(env, argv[4], &buffer_bytes) != napi_ok || offset < 0 || head_bytes < 0 ||
      head_bytes > 64 || buffer_bytes < 4096 || buffer_bytes > (64 << 20)) {
    napi_throw_type_error(env, NULL,
                          "crc32cFile(path, offset, length, headBytes <= 64, bufferBytes): bad arguments");
    return NULL;
  }
  FileJob *job = calloc(1, sizeof *job);
  char *path = malloc(path_length + 1);
  if (job == NULL || path == NULL) {
    free(job);
    free(path);
    napi_throw_error(env, NULL, "crc32cFile: out of memory");
    return NULL;
  }
  napi_get_value_string_utf8(env, argv[0], path, path_length + 1, &path_length);
  job->path = path;
  job->offset = offset;
  job->length = length < 0 ? -1 : length;
  job->head_bytes = (size_t)head_bytes;
  job->buffer_bytes = (size_t)buffer_bytes;
  napi_value promise, name;
  napi_create_promise(env, &job->deferred, &promise);
  napi_create_string_utf8(env, "barman-ts:crc32cFile", NAPI_AUTO_LENGTH, &name);
#if defined(__x86_64__)
  napi_create_async_work(env, NULL, name, ReadAndChecksum, Settle, job, &job->work);
#endif
  napi_queue_async_work(env, job->work);
  return promise;
}

static napi_value Init(napi_env env, napi_value exports) {
#if defined(__x86_64__)
  if (!has_sse42()) return exports; /* no crc32c export: the caller uses its fallback */
  build_tables();
  napi_value fn;
  if (napi_create_function(env, "crc32c", NAPI_AUTO_LENGTH, Crc32c, NULL, &fn) == napi_ok)
    napi_set_named_property(env, exports, "crc32c", fn);
  if (napi_create_function(env, "crc32cFile", NAPI_AUTO_LENGTH, Crc32cFile, NULL, &fn) == napi_ok)
    napi_set_named_property(env, exports, "crc32cFile", fn);
#else
  (void)Crc32c;
  (void)Crc32cFile;
#endif
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
