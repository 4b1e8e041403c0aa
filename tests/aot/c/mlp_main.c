/* Calls libmlp.so (tests/aot/test_aot_mlp_c.py builds both): `mlp_main DIR values` reads the
 * inputs from DIR/in*.bin, calls mlp_forward and writes DIR/out.bin (also once through a
 * strided copy of x and once through mlp_call); `mlp_main DIR errors` makes bad calls and
 * prints "case code message" per line; `mlp_main DIR threads` calls it from 4 threads at once
 * (3 compare each result with the first call's, bit for bit; one makes bad calls and checks
 * that its error messages are its own). No Python involved. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlp.h"

#define B 32
#define I 64
#define H 48
#define O 10

static void *read_file(const char *dir, const char *name, size_t n) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "rb");
  if (!f) { perror(path); exit(2); }
  void *p = malloc(n);
  if (fread(p, 1, n, f) != n) { fprintf(stderr, "short read %s\n", path); exit(2); }
  fclose(f);
  return p;
}

static theanir_buffer buf(void *data, int64_t nbytes, int32_t dtype, int32_t rank, int64_t d0, int64_t d1) {
  theanir_buffer b;
  memset(&b, 0, sizeof b);
  b.data = data;
  b.nbytes = nbytes;
  b.dtype = dtype;
  b.rank = rank;
  b.shape[0] = d0;
  b.shape[1] = d1;
  b.strides = NULL;
  return b;
}

struct job {
  theanir_buffer in[5];
  const float *expect;
  int bad, failures;
};

static void *worker(void *arg) {
  struct job *j = arg;
  float *out = malloc(sizeof(float) * B * O);
  theanir_buffer bo = buf(out, sizeof(float) * B * O, THEANIR_FLOAT32, 0, 0, 0);
  for (int it = 0; it < 200; ++it) {
    if (j->bad) {
      theanir_buffer t = j->in[0];
      t.rank = 1;
      int rc = mlp_forward(&t, &j->in[1], &j->in[2], &j->in[3], &j->in[4], &bo);
      if (rc != THEANIR_ERR_RANK || strstr(mlp_last_error(), "rank 1, expected 2") == NULL) j->failures++;
    } else {
      int rc = mlp_forward(&j->in[0], &j->in[1], &j->in[2], &j->in[3], &j->in[4], &bo);
      if (rc != THEANIR_OK || mlp_last_error()[0] != 0 || memcmp(out, j->expect, sizeof(float) * B * O) != 0)
        j->failures++;
    }
  }
  free(out);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  const char *dir = argv[1];
  float *x = read_file(dir, "in0.bin", sizeof(float) * B * I);
  float *w1 = read_file(dir, "in1.bin", sizeof(float) * I * H);
  float *b1 = read_file(dir, "in2.bin", sizeof(float) * H);
  float *w2 = read_file(dir, "in3.bin", sizeof(float) * H * O);
  float *b2 = read_file(dir, "in4.bin", sizeof(float) * O);
  float *out = malloc(sizeof(float) * B * O);
  theanir_buffer bx = buf(x, sizeof(float) * B * I, THEANIR_FLOAT32, 2, B, I);
  theanir_buffer bw1 = buf(w1, sizeof(float) * I * H, THEANIR_FLOAT32, 2, I, H);
  theanir_buffer bb1 = buf(b1, sizeof(float) * H, THEANIR_FLOAT32, 1, H, 0);
  theanir_buffer bw2 = buf(w2, sizeof(float) * H * O, THEANIR_FLOAT32, 2, H, O);
  theanir_buffer bb2 = buf(b2, sizeof(float) * O, THEANIR_FLOAT32, 1, O, 0);
  theanir_buffer bout = buf(out, sizeof(float) * B * O, THEANIR_FLOAT32, 0, 0, 0);
  int rc;
  if (strcmp(argv[2], "values") == 0) {
    rc = mlp_forward(&bx, &bw1, &bb1, &bw2, &bb2, &bout);
    if (rc != THEANIR_OK) { fprintf(stderr, "mlp_forward: %d %s\n", rc, mlp_last_error()); return 1; }
    if (bout.rank != 2 || bout.shape[0] != B || bout.shape[1] != O) { fprintf(stderr, "shape not filled\n"); return 1; }
    FILE *f = fopen(argv[3], "wb");
    fwrite(out, sizeof(float), B * O, f);
    /* x as a strided view: every other column of a B x 2I array */
    float *wide = calloc((size_t)B * 2 * I, sizeof(float));
    for (int i = 0; i < B; ++i)
      for (int j = 0; j < I; ++j) wide[i * 2 * I + 2 * j] = x[i * I + j];
    int64_t strides[2] = {2 * I, 2};
    theanir_buffer bxs = buf(wide, sizeof(float) * B * 2 * I, THEANIR_FLOAT32, 2, B, I);
    bxs.strides = strides;
    memset(out, 0, sizeof(float) * B * O);
    rc = mlp_forward(&bxs, &bw1, &bb1, &bw2, &bb2, &bout);
    if (rc != THEANIR_OK) { fprintf(stderr, "strided: %d %s\n", rc, mlp_last_error()); return 1; }
    fwrite(out, sizeof(float), B * O, f);
    theanir_buffer ins[5] = {bx, bw1, bb1, bw2, bb2};
    memset(out, 0, sizeof(float) * B * O);
    rc = mlp_call(ins, &bout);
    if (rc != THEANIR_OK) { fprintf(stderr, "mlp_call: %d %s\n", rc, mlp_last_error()); return 1; }
    fwrite(out, sizeof(float), B * O, f);
    fclose(f);
    free(wide);
    printf("inputs=%d outputs=%d error='%s'\n", mlp_num_inputs(), mlp_num_outputs(), mlp_last_error());
  } else if (strcmp(argv[2], "threads") == 0) {
    rc = mlp_forward(&bx, &bw1, &bb1, &bw2, &bb2, &bout);
    if (rc != THEANIR_OK) return 1;
    pthread_t th[4];
    struct job jobs[4];
    for (int i = 0; i < 4; ++i) {
      jobs[i] = (struct job){{bx, bw1, bb1, bw2, bb2}, out, i == 3, 0};
      pthread_create(&th[i], NULL, worker, &jobs[i]);
    }
    int failures = 0;
    for (int i = 0; i < 4; ++i) {
      pthread_join(th[i], NULL);
      failures += jobs[i].failures;
    }
    printf("threads failures=%d\n", failures);
  } else {
    theanir_buffer t;
    t = bx; t.rank = 3; t.shape[2] = 1;
    rc = mlp_forward(&t, &bw1, &bb1, &bw2, &bb2, &bout); printf("rank %d %s\n", rc, mlp_last_error());
    t = bx; t.dtype = THEANIR_FLOAT64;
    rc = mlp_forward(&t, &bw1, &bb1, &bw2, &bb2, &bout); printf("dtype %d %s\n", rc, mlp_last_error());
    rc = mlp_forward(NULL, &bw1, &bb1, &bw2, &bb2, &bout); printf("null %d %s\n", rc, mlp_last_error());
    t = bx; t.data = NULL;
    rc = mlp_forward(&t, &bw1, &bb1, &bw2, &bb2, &bout); printf("nulldata %d %s\n", rc, mlp_last_error());
    t = bout; t.nbytes -= 4;
    rc = mlp_forward(&bx, &bw1, &bb1, &bw2, &bb2, &t); printf("small %d %s\n", rc, mlp_last_error());
    t = bx; t.nbytes = 16;
    rc = mlp_forward(&t, &bw1, &bb1, &bw2, &bb2, &bout); printf("smallin %d %s\n", rc, mlp_last_error());
    t = bx; t.shape[1] = I + 1;
    rc = mlp_forward(&t, &bw1, &bb1, &bw2, &bb2, &bout); printf("shape %d %s\n", rc, mlp_last_error());
    int64_t neg[2] = {I, -1};
    t = bx; t.strides = neg;
    rc = mlp_forward(&t, &bw1, &bb1, &bw2, &bb2, &bout); printf("negstride %d %s\n", rc, mlp_last_error());
    t = bx; t.data = (char *)x + 1;
    rc = mlp_forward(&t, &bw1, &bb1, &bw2, &bb2, &bout); printf("align %d %s\n", rc, mlp_last_error());
    int64_t ostr[2] = {1, B};
    t = bout; t.strides = ostr;
    rc = mlp_forward(&bx, &bw1, &bb1, &bw2, &bb2, &t); printf("outstride %d %s\n", rc, mlp_last_error());
    rc = mlp_call(NULL, &bout); printf("callnull %d %s\n", rc, mlp_last_error());
    rc = mlp_forward(&bx, &bw1, &bb1, &bw2, &bb2, &bout); printf("ok %d '%s'\n", rc, mlp_last_error());
  }
  free(x); free(w1); free(b1); free(w2); free(b2); free(out);
  return 0;
}
