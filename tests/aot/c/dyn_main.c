/* Calls libdyn.so (tests/aot/test_aot_dynamic.py): dyn_forward(x[?, ?], w[3, 2]) -> (out0[?, 2], out1[?]),
 * compiled with dynamic dims, at several batch sizes, with a too-small output buffer and with
 * an x whose second dim does not fit w (a run-time check of the code). Prints one line per case. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dyn.h"

static theanir_buffer buf(void *data, int64_t nbytes, int32_t rank, int64_t d0, int64_t d1) {
  theanir_buffer b;
  memset(&b, 0, sizeof b);
  b.data = data;
  b.nbytes = nbytes;
  b.dtype = THEANIR_FLOAT32;
  b.rank = rank;
  b.shape[0] = d0;
  b.shape[1] = d1;
  return b;
}

static void call(long n, long k, int64_t out_bytes) {
  float *x = malloc(sizeof(float) * (n * k + 1)), w[6] = {1, 2, 3, 4, 5, 6};
  float *out = malloc((size_t)out_bytes + 1), s[64];
  for (long i = 0; i < n * k; ++i) x[i] = (float)(i % 7) - 3;
  theanir_buffer bx = buf(x, sizeof(float) * n * k, 2, n, k), bw = buf(w, sizeof w, 2, 3, 2);
  theanir_buffer bo = buf(out, out_bytes, 0, 0, 0), bs = buf(s, sizeof s, 0, 0, 0);
  int rc = dyn_forward(&bx, &bw, &bo, &bs);
  printf("n=%ld k=%ld rc=%d shape=%d:%lld,%lld sshape=%d:%lld", n, k, rc, bo.rank, (long long)bo.shape[0],
         (long long)bo.shape[1], bs.rank, (long long)bs.shape[0]);
  if (rc == THEANIR_OK) {
    double sum = 0;
    for (long i = 0; i < n * 2; ++i) sum += out[i];
    printf(" sum=%.3f s0=%.3f", sum, k > 0 ? s[0] : 0.0);
  } else {
    printf(" error=%s", dyn_last_error());
  }
  printf("\n");
  free(x);
  free(out);
}

int main(void) {
  call(5, 3, 5 * 2 * sizeof(float));
  call(1, 3, 1 * 2 * sizeof(float));
  call(0, 3, 0);
  call(64, 3, 64 * 2 * sizeof(float));
  call(9, 3, 4 * sizeof(float)); /* too small: THEANIR_ERR_SIZE, shape filled */
  call(4, 5, 4 * 2 * sizeof(float)); /* 4x5 @ 3x2: the code's run-time check */
  return 0;
}
