// src/data/spm_shim/spm_shim.h - the C interface of libtips_spm.so, a thin wrapper of SentencePiece.
//
// Why a separate shared object: Debian's libsentencepiece carries its own protobuf (3.14) and exports it,
// while libtorch_cpu exports another protobuf and libprotobuf.so is a third; linked into one binary, the
// symbols interpose and SentencePiece crashes at load or aborts on its version check. tokenizer.cpp therefore
// dlopen()s this library with RTLD_LOCAL | RTLD_DEEPBIND so SentencePiece binds to its own protobuf.
// Only plain C types cross the boundary; no exception or heap object does.
#pragma once
#include <stddef.h>

extern "C" {

// Returns a processor handle, or NULL with a message in err (at most err_len bytes, NUL-terminated).
void* tips_spm_load(const char* model_path, char* err, size_t err_len);
void tips_spm_free(void* handle);
int tips_spm_piece_size(const void* handle);
// 1 when id is a control / unknown / unused piece (not text), else 0.
int tips_spm_is_special(const void* handle, int id);
// Copies the piece string of `id` (NUL-terminated, truncated to out_len).
void tips_spm_id_to_piece(const void* handle, int id, char* out, size_t out_len);
// Encodes text[0..len) to ids; writes at most cap ids and returns the full count, or -1 with err set.
// Thread-safe on one handle.
int tips_spm_encode(const void* handle, const char* text, size_t len, int* ids, int cap, char* err, size_t err_len);
// Trains with the given trainer flags (keys[i] = values[i]) on the lines of corpus_path, ASCII-lower-cased,
// empty lines skipped. Returns 0, or -1 with err set.
int tips_spm_train(const char* corpus_path, const char* const* keys, const char* const* values, int n, char* err,
                   size_t err_len);

typedef void* (*tips_spm_load_fn)(const char*, char*, size_t);
typedef void (*tips_spm_free_fn)(void*);
typedef int (*tips_spm_piece_size_fn)(const void*);
typedef int (*tips_spm_is_special_fn)(const void*, int);
typedef void (*tips_spm_id_to_piece_fn)(const void*, int, char*, size_t);
typedef int (*tips_spm_encode_fn)(const void*, const char*, size_t, int*, int, char*, size_t);
typedef int (*tips_spm_train_fn)(const char*, const char* const*, const char* const*, int, char*, size_t);

}  // extern "C"
