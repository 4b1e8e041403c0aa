// tn.print's run-time half: see print.cpp.
#pragma once
#include <cstdint>

namespace theanir {
// Format the tensor `table` describes ([dtype code, rank, data address, sizes..., strides...])
// into `message` (its first `{}`; `{{`/`}}` are braces) and write it (its own newlines
// included) to stdout, flushed.
void print_tensor(const char* message, const int64_t* table, bool shape_only);
}  // namespace theanir
