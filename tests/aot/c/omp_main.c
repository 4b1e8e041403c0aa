/* Calls libomp1.so's omp1_scale (tests/aot/test_aot_openmp.py): `omp_main N IN OUT`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "omp1.h"

int main(int argc, char **argv) {
  if (argc < 4) return 2;
  long n = atol(argv[1]);
  float *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n);
  FILE *f = fopen(argv[2], "rb");
  if (!f || fread(x, sizeof(float), n, f) != (size_t)n) return 2;
  fclose(f);
  theanir_buffer bx, by;
  memset(&bx, 0, sizeof bx);
  memset(&by, 0, sizeof by);
  bx.data = x; bx.nbytes = sizeof(float) * n; bx.dtype = THEANIR_FLOAT32; bx.rank = 1; bx.shape[0] = n;
  by.data = y; by.nbytes = sizeof(float) * n; by.dtype = THEANIR_FLOAT32;
  for (int i = 0; i < 3; ++i)
    if (omp1_scale(&bx, &by) != THEANIR_OK) { fprintf(stderr, "%s\n", omp1_last_error()); return 1; }
  f = fopen(argv[3], "wb");
  fwrite(y, sizeof(float), n, f);
  fclose(f);
  free(x); free(y);
  return 0;
}
