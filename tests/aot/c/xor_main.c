/* Trains XOR with libxor.so (a th.function training step built by tests/aot/test_aot_xor_c.py):
 * no Python. `xor_main STEPS MODE`: MODE "loop" calls xor_train STEPS times, "run" calls
 * xor_run(STEPS, ...). Prints the cost, the predictions, the accuracy and W1; then checks
 * the state API's errors. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xor.h"

static theanir_buffer buf(void *data, int64_t nbytes, int32_t dtype, int32_t rank, int64_t d0, int64_t d1) {
  theanir_buffer b;
  memset(&b, 0, sizeof b);
  b.data = data;
  b.nbytes = nbytes;
  b.dtype = dtype;
  b.rank = rank;
  b.shape[0] = d0;
  b.shape[1] = d1;
  return b;
}

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  long steps = atol(argv[1]);
  double X[8] = {0, 0, 0, 1, 1, 0, 1, 1}, Y[4] = {0, 1, 1, 0}, cost = -1;
  uint8_t pred[4] = {9, 9, 9, 9};
  theanir_buffer bx = buf(X, sizeof X, THEANIR_FLOAT64, 2, 4, 2), by = buf(Y, sizeof Y, THEANIR_FLOAT64, 1, 4, 0);
  theanir_buffer bc = buf(&cost, sizeof cost, THEANIR_FLOAT64, 0, 0, 0), bp = buf(pred, sizeof pred, THEANIR_BOOL, 0, 0, 0);
  int rc = xor_train(&bx, &by, &bc, &bp);
  printf("before_init %d %s\n", rc, xor_last_error());
  if (xor_init() != THEANIR_OK) { fprintf(stderr, "init: %s\n", xor_last_error()); return 1; }
  if (strcmp(argv[2], "run") == 0) {
    rc = xor_run(steps, &bx, &by, &bc, &bp);
    if (rc != THEANIR_OK) { fprintf(stderr, "run: %s\n", xor_last_error()); return 1; }
  } else {
    for (long i = 0; i < steps; ++i) {
      rc = xor_train(&bx, &by, &bc, &bp);
      if (rc != THEANIR_OK) { fprintf(stderr, "train: %s\n", xor_last_error()); return 1; }
    }
  }
  int correct = 0;
  for (int i = 0; i < 4; ++i) correct += (pred[i] != 0) == (Y[i] != 0);
  printf("cost %.6f\n", cost);
  printf("pred %d %d %d %d\n", pred[0], pred[1], pred[2], pred[3]);
  printf("accuracy %.2f\n", correct / 4.0);
  double W1[8];
  theanir_buffer bw = buf(W1, sizeof W1, THEANIR_FLOAT64, 0, 0, 0);
  rc = xor_get_state("W1", &bw);
  if (rc != THEANIR_OK || bw.rank != 2 || bw.shape[0] != 2 || bw.shape[1] != 4) { fprintf(stderr, "get W1\n"); return 1; }
  printf("W1");
  for (int i = 0; i < 8; ++i) printf(" %.6f", W1[i]);
  printf("\n");
  printf("states %d:", xor_num_states());
  for (int i = 0; i < xor_num_states(); ++i) printf(" %s", xor_state_name(i));
  printf("\n");
  /* set_state round trip: zero W1, read it back */
  double zeros[8] = {0};
  theanir_buffer bz = buf(zeros, sizeof zeros, THEANIR_FLOAT64, 2, 2, 4);
  rc = xor_set_state("W1", &bz);
  printf("set %d\n", rc);
  rc = xor_get_state("W1", &bw);
  printf("after_set %d %.1f %.1f\n", rc, W1[0], W1[7]);
  rc = xor_get_state("nope", &bw); printf("unknown %d %s\n", rc, xor_last_error());
  rc = xor_get_state(NULL, &bw); printf("nullname %d %s\n", rc, xor_last_error());
  bz.shape[1] = 3;
  rc = xor_set_state("W1", &bz); printf("badshape %d %s\n", rc, xor_last_error());
  rc = xor_run(0, &bx, &by, &bc, &bp); printf("badrun %d %s\n", rc, xor_last_error());
  xor_free();
  return 0;
}
