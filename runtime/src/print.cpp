// tn.print's run-time half (dialects/tn/ops/debug.py): format a tensor NumPy-like and write
// the message, its `{}` replaced (a matrix takes several lines) to the process's stdout, flushed, so that prints appear
// in the order the code runs them. Called through the check hook (pool.cpp) with the kind
// PRINT and a table [dtype code, rank, data address, sizes..., strides...] (strides in
// elements). Floats print with at most 8 fraction digits, the fewest that give the value
// back (NumPy's default 'maxprec'), padded to a common width; tensors of more than 1000
// elements show their first and last 3 entries along each axis, with '...' (NumPy's
// threshold and edgeitems); lines wrap at 75 characters.
#include "print.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

namespace theanir {
namespace {

constexpr int64_t kThreshold = 1000, kEdge = 3, kWidth = 75;

struct View {
  int code;
  int64_t rank;
  const char* data;
  std::vector<int64_t> sizes, strides;
  bool summarize;
};

size_t item_size(int code) { return code == 1 || code == 3 ? 8 : code == 4 ? 1 : 4; }

double as_double(const View& v, int64_t flat_offset) {
  const char* p = v.data + flat_offset * (int64_t)item_size(v.code);
  switch (v.code) {
    case 0: { float f; std::memcpy(&f, p, 4); return f; }
    case 1: { double d; std::memcpy(&d, p, 8); return d; }
    default: return 0;
  }
}

int64_t as_int(const View& v, int64_t flat_offset) {
  const char* p = v.data + flat_offset * (int64_t)item_size(v.code);
  switch (v.code) {
    case 2: { int32_t i; std::memcpy(&i, p, 4); return i; }
    case 3: { int64_t i; std::memcpy(&i, p, 8); return i; }
    case 4: return *p != 0;
    default: return 0;
  }
}

// Indices shown along an axis of length n (-1 stands for the '...').
std::vector<int64_t> shown(int64_t n, bool summarize) {
  std::vector<int64_t> out;
  if (summarize && n > 2 * kEdge) {
    for (int64_t i = 0; i < kEdge; ++i) out.push_back(i);
    out.push_back(-1);
    for (int64_t i = n - kEdge; i < n; ++i) out.push_back(i);
  } else {
    for (int64_t i = 0; i < n; ++i) out.push_back(i);
  }
  return out;
}

void collect(const View& v, int64_t axis, int64_t offset, std::vector<int64_t>& out) {
  if (axis == v.rank) { out.push_back(offset); return; }
  for (int64_t i : shown(v.sizes[axis], v.summarize))
    if (i >= 0) collect(v, axis + 1, offset + i * v.strides[axis], out);
}

// The fewest fraction digits (at most 8) with which `x` prints back as itself.
int digits(double x, bool single, bool sci) {
  char buf[64];
  for (int p = 0; p < 8; ++p) {
    std::snprintf(buf, sizeof buf, sci ? "%.*e" : "%.*f", p, x);
    double back = std::strtod(buf, nullptr);
    if (single ? (float)back == (float)x : back == x) return p;
  }
  // 8 digits, less the trailing zeros of its rounding (NumPy trims them: 0.41379310 -> 0.4137931)
  std::snprintf(buf, sizeof buf, sci ? "%.8e" : "%.8f", x);
  const char* end = sci ? std::strchr(buf, 'e') : buf + std::strlen(buf);
  int p = 8;
  while (p > 0 && end[-1] == '0') --end, --p;
  return p;
}

struct FloatFormat {
  bool sci = false;
  int int_width = 0, frac_width = 0, width = 0;
};

std::string float_text(double x, const FloatFormat& f, bool single, bool pad) {
  char buf[80];
  std::string s;
  if (std::isnan(x)) s = "nan";
  else if (std::isinf(x)) s = x < 0 ? "-inf" : "inf";
  else {
    int p = f.sci ? f.frac_width : digits(x, single, false);  // scientific: one precision
    std::snprintf(buf, sizeof buf, f.sci ? "%.*e" : "%.*f", p, x);
    s = buf;
    if (p == 0) {  // NumPy writes "1." and "1.e+10"
      size_t e = s.find('e');
      s.insert(e == std::string::npos ? s.size() : e, ".");
    }
    if (pad && !f.sci) {
      size_t dot = s.find('.');
      int frac = (int)(s.size() - dot - 1);
      s = std::string(std::max(0, f.int_width - (int)dot), ' ') + s + std::string(std::max(0, f.frac_width - frac), ' ');
    }
  }
  if (pad && (int)s.size() < f.width) s = std::string(f.width - s.size(), ' ') + s;
  return s;
}

FloatFormat float_format(const View& v, const std::vector<int64_t>& offsets) {
  FloatFormat f;
  bool single = v.code == 0;
  double lo = INFINITY, hi = 0;
  for (int64_t o : offsets) {
    double a = std::fabs(as_double(v, o));
    if (!std::isfinite(a) || a == 0) continue;
    lo = std::min(lo, a);
    hi = std::max(hi, a);
  }
  f.sci = hi >= 1e8 || (hi > 0 && (lo < 1e-4 || hi / lo > 1e3));  // NumPy's rule
  if (f.sci)
    for (int64_t o : offsets) {
      double x = as_double(v, o);
      if (std::isfinite(x)) f.frac_width = std::max(f.frac_width, digits(x, single, true));
    }
  for (int64_t o : offsets) {
    std::string s = float_text(as_double(v, o), f, single, false);
    size_t dot = s.find('.');
    if (!f.sci && dot != std::string::npos) {
      f.int_width = std::max(f.int_width, (int)dot);
      f.frac_width = std::max(f.frac_width, (int)(s.size() - dot - 1));
    }
  }
  for (int64_t o : offsets) f.width = std::max(f.width, (int)float_text(as_double(v, o), f, single, true).size());
  return f;
}

struct Printer {
  const View& v;
  FloatFormat ff;
  int int_width = 0;
  std::string out;

  std::string element(int64_t offset) const {
    if (v.code <= 1) return float_text(as_double(v, offset), ff, v.code == 0, true);
    std::string s = v.code == 4 ? (as_int(v, offset) ? "True" : "False") : std::to_string(as_int(v, offset));
    return std::string(std::max(0, int_width - (int)s.size()), ' ') + s;
  }

  // axis `axis` of the tensor at `offset`; `col` is the current line's length
  void block(int64_t axis, int64_t offset) {
    out += '[';
    std::vector<int64_t> idx = shown(v.sizes[axis], v.summarize);
    int64_t remaining = v.rank - axis;
    size_t line_start = out.rfind('\n');
    line_start = line_start == std::string::npos ? 0 : line_start + 1;
    for (size_t k = 0; k < idx.size(); ++k) {
      bool last = k + 1 == idx.size();
      if (remaining == 1) {
        std::string e = idx[k] < 0 ? "..." : element(offset + idx[k] * v.strides[axis]);
        if (k > 0) {
          size_t col = out.size() - line_start;
          if ((int64_t)(col + 1 + e.size() + (last ? axis + 1 : 0)) > kWidth) {
            while (!out.empty() && out.back() == ' ') out.pop_back();  // NumPy strips wrapped lines
            out += '\n' + std::string(axis + 1, ' ');
            line_start = out.size() - (axis + 1);
          } else {
            out += ' ';
          }
        }
        out += e;
      } else {
        if (k > 0) out += std::string(remaining - 1, '\n') + std::string(axis + 1, ' ');
        if (idx[k] < 0) out += "...";
        else block(axis + 1, offset + idx[k] * v.strides[axis]);
        line_start = out.rfind('\n') + 1;
      }
    }
    out += ']';
  }
};

std::string shape_text(const View& v) {
  std::string s = "(";
  for (int64_t d = 0; d < v.rank; ++d) s += std::to_string(v.sizes[d]) + (d + 1 < v.rank || v.rank == 1 ? (v.rank == 1 ? "," : ", ") : "");
  return s + ")";
}

std::string value_text(const View& v) {
  int64_t n = 1;
  for (int64_t s : v.sizes) n *= s;
  if (v.rank == 0) {
    if (v.code == 4) return as_int(v, 0) ? "True" : "False";
    if (v.code >= 2) return std::to_string(as_int(v, 0));
    double x = as_double(v, 0);
    if (std::isnan(x)) return "nan";
    if (std::isinf(x)) return x < 0 ? "-inf" : "inf";
    char buf[64];
    for (int p = 1; p <= 17; ++p) {  // repr: the shortest text that reads back
      std::snprintf(buf, sizeof buf, "%.*g", p, x);
      double back = std::strtod(buf, nullptr);
      if (v.code == 0 ? (float)back == (float)x : back == x) break;
    }
    std::string s = buf;
    if (s.find_first_of(".en") == std::string::npos) s += ".0";
    return s;
  }
  if (n == 0) return "[]";
  std::vector<int64_t> offsets;
  collect(v, 0, 0, offsets);
  Printer p{v};
  if (v.code <= 1) p.ff = float_format(v, offsets);
  else
    for (int64_t o : offsets) {
      int64_t i = as_int(v, o);
      int w = v.code == 4 ? (i ? 4 : 5) : (int)std::to_string(i).size();
      p.int_width = std::max(p.int_width, w);
    }
  p.block(0, 0);
  return p.out;
}

std::mutex& print_lock() {
  static std::mutex m;
  return m;
}

}  // namespace

void print_tensor(const char* message, const int64_t* table, bool shape_only) {
  View v;
  v.code = (int)table[0];
  v.rank = table[1];
  v.data = reinterpret_cast<const char*>(table[2]);
  int64_t n = 1;
  for (int64_t d = 0; d < v.rank; ++d) {
    v.sizes.push_back(table[3 + d]);
    v.strides.push_back(table[3 + v.rank + d]);
    n *= table[3 + d];
  }
  v.summarize = n > kThreshold;
  std::string text = shape_only ? shape_text(v) : value_text(v);
  std::string line;
  bool done = false;
  for (const char* p = message; *p; ++p) {
    if (p[0] == '{' && p[1] == '{') { line += '{'; ++p; }
    else if (p[0] == '}' && p[1] == '}') { line += '}'; ++p; }
    else if (!done && p[0] == '{' && p[1] == '}') { line += text; ++p; done = true; }
    else line += *p;
  }
  std::lock_guard<std::mutex> guard(print_lock());
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
}

}  // namespace theanir
