// Looking up the functions of a library loaded with dlopen (cuBLASLt, NCCL): the libraries are
// loaded at run time so no binary links them unless it uses them.
#ifndef MNEME_KERNELS_CUDA_DL_SYMBOL_H_
#define MNEME_KERNELS_CUDA_DL_SYMBOL_H_

#include <dlfcn.h>

#include <string>
#include <type_traits>

#include "absl/strings/str_format.h"

namespace mneme::kernels::cuda {

// *fn = the symbol `name` of `lib` (loaded from `file`). On failure sets *error, naming the
// file and the symbol, and returns false.
template <typename Fn>
bool LoadSymbol(void* lib, const std::string& file, const char* name, Fn* fn, std::string* error) {
  *fn = reinterpret_cast<Fn>(dlsym(lib, name));
  if (*fn != nullptr) return true;
  *error = absl::StrFormat("%s has no symbol %s", file, name);
  return false;
}

}  // namespace mneme::kernels::cuda

#endif  // MNEME_KERNELS_CUDA_DL_SYMBOL_H_
