// Python bindings of the runtime's CUDA path (cuda.h), used by theanir/runtime/cuda.py and
// tests/gpu/device_check.py. UNVERIFIED ON HARDWARE. Nothing here runs at import: the driver
// is loaded by the first call that needs it.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "cuda.h"

namespace nb = nanobind;
using namespace theanir::cuda;

namespace {

using HostArray = nb::ndarray<nb::c_contig, nb::device::cpu>;

uintptr_t handle(Handle h) { return reinterpret_cast<uintptr_t>(h); }
Handle handle(uintptr_t h) { return reinterpret_cast<Handle>(h); }

std::vector<KernelArg> kernel_args(const std::vector<std::pair<std::string, nb::object>>& args) {
  std::vector<KernelArg> out;
  out.reserve(args.size());
  for (const auto& [type, value] : args) {
    KernelArg a;
    a.type = type;
    if (type == "f32" || type == "f64")
      a.f = nb::cast<double>(value);
    else
      a.i = nb::cast<int64_t>(value);
    out.push_back(a);
  }
  return out;
}

}  // namespace

void bind_cuda(nb::module_& m) {
  m.def("cuda_driver_status", &driver_status,
        "Why the CUDA driver cannot be used here ('' when it can); loads libcuda.so.1 on first call.");
  m.def("cuda_device_count", &device_count);
  m.def("cuda_load_cublas", &load_cublas, nb::arg("path"), "Load cuBLAS from `path`; '' when loaded, else why not.");
  nb::class_<CudaDevice>(m, "CudaDevice", "One CUDA device: primary context, a stream, its memory pool.")
      .def(nb::init<int>(), nb::arg("ordinal") = 0)
      .def_prop_ro("ordinal", &CudaDevice::ordinal)
      .def("alloc", &CudaDevice::alloc, nb::arg("nbytes"))
      .def("free", &CudaDevice::free, nb::arg("ptr"))
      .def("copy_to_device",
           [](CudaDevice& d, uint64_t dst, HostArray src) { d.copy_to_device(dst, src.data(), src.nbytes()); },
           nb::arg("dst"), nb::arg("src"), "Queue a host->device copy (keep `src` alive until a synchronize).")
      .def("copy_to_host",
           [](CudaDevice& d, HostArray dst, uint64_t src) {
             nb::gil_scoped_release release;
             d.copy_to_host(dst.data(), src, dst.nbytes());
           },
           nb::arg("dst"), nb::arg("src"), "Copy device->host and wait; raises a kept error.")
      .def("synchronize",
           [](CudaDevice& d) {
             nb::gil_scoped_release release;
             d.synchronize();
           })
      .def("record_event", [](CudaDevice& d) { return handle(d.record_event()); })
      .def("event_done", [](CudaDevice& d, uintptr_t e) { return d.event_done(handle(e)); })
      .def("wait_event",
           [](CudaDevice& d, uintptr_t e) {
             nb::gil_scoped_release release;
             d.wait_event(handle(e));
           })
      .def("destroy_event", [](CudaDevice& d, uintptr_t e) { d.destroy_event(handle(e)); })
      .def("load_module", [](CudaDevice& d, nb::bytes cubin) {
             return handle(d.load_module(std::string(cubin.c_str(), cubin.size())));
           })
      .def("function", [](CudaDevice& d, uintptr_t module, const std::string& name) {
             return handle(d.function(handle(module), name));
           })
      .def("launch",
           [](CudaDevice& d, uintptr_t fn, std::vector<unsigned> grid, std::vector<unsigned> block,
              const std::vector<std::pair<std::string, nb::object>>& args, unsigned shared) {
             d.launch(handle(fn), grid, block, kernel_args(args), shared);
           },
           nb::arg("fn"), nb::arg("grid"), nb::arg("block"), nb::arg("args"), nb::arg("shared_bytes") = 0)
      .def("gemm", &CudaDevice::gemm, nb::arg("elt"), nb::arg("m"), nb::arg("n"), nb::arg("k"), nb::arg("a"),
           nb::arg("sa0"), nb::arg("sa1"), nb::arg("b"), nb::arg("sb0"), nb::arg("sb1"), nb::arg("c"),
           nb::arg("sc0"), nb::arg("sc1"), nb::arg("beta") = 0.0)
      .def("fail", &CudaDevice::fail, nb::arg("message"));
}
