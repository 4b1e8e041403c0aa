// theanir runtime, native part: calls compiled entry points with NumPy arrays.
//
// A compiled function has the destination-passing C interface that theanir's entry ABI
// emits: `void _mlir_ciface_main(Desc* in0, ..., Desc* out0, ...)`, reached through MLIR's
// packed wrapper `void fn(void** args)`, where args[i] points to the i-th descriptor pointer.
// Everything that crosses this boundary is validated here (unless the caller trusts its
// inputs), so a wrong array raises a Python exception instead of corrupting memory.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace nb = nanobind;

namespace {

// dtype codes shared with theanir/runtime/__init__.py
enum DType : int { F32 = 0, F64 = 1, I32 = 2, I64 = 3, BOOL = 4 };

struct ArgSpec {
  std::string name;
  int dtype;
  std::vector<int64_t> shape;
  bool contiguous;  // compiled for a C-contiguous buffer (identity layout)
  bool output;      // written by the function
};

const char* dtype_name(int code) {
  switch (code) {
    case F32: return "float32";
    case F64: return "float64";
    case I32: return "int32";
    case I64: return "int64";
    case BOOL: return "bool";
  }
  return "?";
}

bool dtype_matches(const nb::dlpack::dtype& dt, int code) {
  using nb::dlpack::dtype_code;
  switch (code) {
    case F32: return dt.code == (uint8_t)dtype_code::Float && dt.bits == 32;
    case F64: return dt.code == (uint8_t)dtype_code::Float && dt.bits == 64;
    case I32: return dt.code == (uint8_t)dtype_code::Int && dt.bits == 32;
    case I64: return dt.code == (uint8_t)dtype_code::Int && dt.bits == 64;
    case BOOL: return dt.code == (uint8_t)dtype_code::Bool && dt.bits == 8;
  }
  return false;
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::ostringstream os;
  os << "(";
  for (size_t i = 0; i < s.size(); ++i) os << s[i] << (s.size() == 1 || i + 1 < s.size() ? "," : "");
  os << ")";
  return os.str();
}

using Packed = void (*)(void**);

class Executable {
 public:
  Executable(uintptr_t fn, std::vector<ArgSpec> specs, nb::object keepalive)
      : fn_(reinterpret_cast<Packed>(fn)), specs_(std::move(specs)), keepalive_(std::move(keepalive)) {
    if (fn == 0) throw std::invalid_argument("Executable: null entry point");
    for (const auto& s : specs_) {
      if (s.dtype < F32 || s.dtype > BOOL) throw std::invalid_argument("Executable: bad dtype code for " + s.name);
    }
  }

  // Validate `arrays` against the compiled signature and run the function.
  void call(nb::list arrays, bool trust_input) {
    const size_t n = specs_.size();
    if (nb::len(arrays) != n) {
      throw nb::type_error(("expected " + std::to_string(n) + " buffers, got " +
                            std::to_string(nb::len(arrays))).c_str());
    }
    std::vector<std::vector<int64_t>> descs(n);
    std::vector<void*> desc_ptrs(n);
    std::vector<void*> packed(n);
    for (size_t i = 0; i < n; ++i) {
      const ArgSpec& spec = specs_[i];
      nb::ndarray<> arr;
      if (!nb::try_cast(arrays[i], arr)) {
        throw nb::type_error(("argument '" + spec.name + "': expected a NumPy array of dtype " +
                              dtype_name(spec.dtype) + ", got " +
                              nb::type_name(arrays[i].type()).c_str()).c_str());
      }
      describe(spec, arr, descs[i], trust_input);
      desc_ptrs[i] = descs[i].data();
      packed[i] = &desc_ptrs[i];
    }
    nb::gil_scoped_release release;
    fn_(packed.data());
  }

  size_t num_args() const { return specs_.size(); }

 private:
  static void describe(const ArgSpec& spec, const nb::ndarray<>& arr, std::vector<int64_t>& d, bool trust) {
    const size_t rank = spec.shape.size();
    // Never trusted: what would crash (wrong rank means a wrong descriptor size).
    if (arr.ndim() != rank) {
      throw nb::value_error(("argument '" + spec.name + "': expected rank " + std::to_string(rank) +
                             " shape " + shape_str(spec.shape) + ", got rank " + std::to_string(arr.ndim()))
                                .c_str());
    }
    std::vector<int64_t> shape(rank);
    int64_t size = 1;
    for (size_t k = 0; k < rank; ++k) {
      shape[k] = (int64_t)arr.shape(k);
      size *= shape[k];
    }
    if (shape != spec.shape) {
      throw nb::value_error(("argument '" + spec.name + "': expected shape " + shape_str(spec.shape) +
                             ", got " + shape_str(shape)).c_str());
    }
    if (size > 0 && arr.data() == nullptr) {
      throw nb::value_error(("argument '" + spec.name + "': null data pointer").c_str());
    }
    if (!trust || spec.output) {
      if (!dtype_matches(arr.dtype(), spec.dtype)) {
        throw nb::type_error(("argument '" + spec.name + "': expected dtype " + dtype_name(spec.dtype) +
                              ", got a different dtype").c_str());
      }
    }
    d.assign(3 + 2 * rank, 0);
    d[0] = d[1] = (int64_t)(intptr_t)arr.data();
    d[2] = 0;
    int64_t expect = 1;
    bool contiguous = true;
    for (size_t k = rank; k-- > 0;) {
      d[3 + k] = shape[k];
      d[3 + rank + k] = (int64_t)arr.stride(k);  // nanobind strides are in elements
      if (shape[k] != 1 && (int64_t)arr.stride(k) != expect) contiguous = false;
      expect *= shape[k];
    }
    if (spec.contiguous && !contiguous && size > 0) {
      throw nb::value_error(("argument '" + spec.name + "': expected a C-contiguous array").c_str());
    }
    if (spec.contiguous) {  // identity layout: canonical strides
      int64_t st = 1;
      for (size_t k = rank; k-- > 0;) {
        d[3 + rank + k] = st;
        st *= shape[k];
      }
    }
  }

  Packed fn_;
  std::vector<ArgSpec> specs_;
  nb::object keepalive_;  // keeps the code (ExecutionEngine) alive as long as we are
};

}  // namespace

NB_MODULE(_native, m) {
  m.doc() = "theanir runtime: validated calls into compiled entry points";
  nb::class_<ArgSpec>(m, "ArgSpec")
      .def(nb::init<std::string, int, std::vector<int64_t>, bool, bool>(), nb::arg("name"), nb::arg("dtype"),
           nb::arg("shape"), nb::arg("contiguous"), nb::arg("output"))
      .def_ro("name", &ArgSpec::name)
      .def_ro("dtype", &ArgSpec::dtype)
      .def_ro("shape", &ArgSpec::shape)
      .def_ro("contiguous", &ArgSpec::contiguous)
      .def_ro("output", &ArgSpec::output);
  nb::class_<Executable>(m, "Executable")
      .def(nb::init<uintptr_t, std::vector<ArgSpec>, nb::object>(), nb::arg("fn"), nb::arg("specs"),
           nb::arg("keepalive"))
      .def("call", &Executable::call, nb::arg("arrays"), nb::arg("trust_input") = false)
      .def_prop_ro("num_args", &Executable::num_args);
}
