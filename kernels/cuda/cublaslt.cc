#include "kernels/cuda/cublaslt.h"

#include <cublasLt.h>
#include <cuda_runtime.h>
#include <dlfcn.h>

#include <string>
#include <type_traits>

#include "absl/strings/str_format.h"
#include "common/status.h"
#include "kernels/cuda/dl_symbol.h"

namespace mneme::kernels::cuda {

// Entry points resolved from the shared library; types come from the prototypes in cublasLt.h.
struct CublasLtApi {
  decltype(&cublasLtCreate) create;
  decltype(&cublasLtDestroy) destroy;
  decltype(&cublasLtMatmulDescCreate) desc_create;
  decltype(&cublasLtMatmulDescDestroy) desc_destroy;
  decltype(&cublasLtMatmulDescSetAttribute) desc_set;
  decltype(&cublasLtMatrixLayoutCreate) layout_create;
  decltype(&cublasLtMatrixLayoutDestroy) layout_destroy;
  decltype(&cublasLtMatmulPreferenceCreate) pref_create;
  decltype(&cublasLtMatmulPreferenceDestroy) pref_destroy;
  decltype(&cublasLtMatmulPreferenceSetAttribute) pref_set;
  decltype(&cublasLtMatmulAlgoGetHeuristic) heuristic;
  decltype(&cublasLtMatmul) matmul;
};

namespace {

absl::StatusOr<const CublasLtApi*> LoadApi() {
  static CublasLtApi api;
  static std::string error;
  static const bool loaded = [] {
    const std::string file = absl::StrFormat("libcublasLt.so.%d", CUBLAS_VER_MAJOR);
    void* lib = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
      error = absl::StrFormat("cannot load %s (%s); put the CUDA %d libraries on LD_LIBRARY_PATH",
                              file, dlerror(), CUBLAS_VER_MAJOR);
      return false;
    }
    bool ok = true;
    auto get = [&](auto& fn, const char* name) { ok = LoadSymbol(lib, file, name, &fn, &error) && ok; };
    get(api.create, "cublasLtCreate");
    get(api.destroy, "cublasLtDestroy");
    get(api.desc_create, "cublasLtMatmulDescCreate");
    get(api.desc_destroy, "cublasLtMatmulDescDestroy");
    get(api.desc_set, "cublasLtMatmulDescSetAttribute");
    get(api.layout_create, "cublasLtMatrixLayoutCreate");
    get(api.layout_destroy, "cublasLtMatrixLayoutDestroy");
    get(api.pref_create, "cublasLtMatmulPreferenceCreate");
    get(api.pref_destroy, "cublasLtMatmulPreferenceDestroy");
    get(api.pref_set, "cublasLtMatmulPreferenceSetAttribute");
    get(api.heuristic, "cublasLtMatmulAlgoGetHeuristic");
    get(api.matmul, "cublasLtMatmul");
    return ok;
  }();
  if (!loaded) return absl::UnavailableError(error);
  return &api;
}

absl::Status Check(cublasStatus_t s, const char* what) {
  if (s == CUBLAS_STATUS_SUCCESS) return absl::OkStatus();
  return absl::InternalError(absl::StrFormat("cuBLASLt %s failed with status %d", what, static_cast<int>(s)));
}

}  // namespace

// One shape's descriptors and chosen algorithm. The column-major view: y^T [n x m] (ld ldy) =
// op_T(w as k x n, ld k) · (x as k x m, ld k); w and x fp32 or bf16, y fp32.
struct CublasLtGemm::Plan {
  const CublasLtApi* api = nullptr;
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
  ~Plan() {
    if (a) api->layout_destroy(a);
    if (b) api->layout_destroy(b);
    if (c) api->layout_destroy(c);
    if (desc) api->desc_destroy(desc);
  }
};

absl::StatusOr<std::unique_ptr<CublasLtGemm>> CublasLtGemm::Create(size_t workspace_bytes) {
  MNEME_ASSIGN_OR_RETURN(const CublasLtApi* api, LoadApi());
  std::unique_ptr<CublasLtGemm> g(new CublasLtGemm());
  g->api_ = api;
  cublasLtHandle_t h = nullptr;
  MNEME_RETURN_IF_ERROR(Check(api->create(&h), "create"));
  g->handle_ = h;
  if (workspace_bytes > 0) {
    const cudaError_t e = cudaMalloc(&g->workspace_, workspace_bytes);
    if (e != cudaSuccess) {
      return absl::ResourceExhaustedError(absl::StrFormat("cuBLASLt workspace of %d bytes: %s",
                                                          workspace_bytes, cudaGetErrorString(e)));
    }
    g->workspace_bytes_ = workspace_bytes;
  }
  return g;
}

CublasLtGemm::~CublasLtGemm() {
  plans_.clear();
  if (workspace_) cudaFree(workspace_);
  if (handle_) api_->destroy(static_cast<cublasLtHandle_t>(handle_));
}

absl::StatusOr<const CublasLtGemm::Plan*> CublasLtGemm::GetPlan(int64_t m, int64_t n, int64_t k,
                                                                int64_t ldy, bool bf16) {
  const auto key = std::make_tuple(m, n, k, ldy, bf16);
  const cudaDataType_t in = bf16 ? CUDA_R_16BF : CUDA_R_32F;
  if (auto it = plans_.find(key); it != plans_.end()) return it->second.get();
  auto plan = std::make_unique<Plan>();
  plan->api = api_;
  MNEME_RETURN_IF_ERROR(Check(api_->desc_create(&plan->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), "MatmulDescCreate"));
  const cublasOperation_t trans_a = CUBLAS_OP_T, trans_b = CUBLAS_OP_N;
  MNEME_RETURN_IF_ERROR(Check(api_->desc_set(plan->desc, CUBLASLT_MATMUL_DESC_TRANSA, &trans_a, sizeof(trans_a)), "set TRANSA"));
  MNEME_RETURN_IF_ERROR(Check(api_->desc_set(plan->desc, CUBLASLT_MATMUL_DESC_TRANSB, &trans_b, sizeof(trans_b)), "set TRANSB"));
  MNEME_RETURN_IF_ERROR(Check(api_->layout_create(&plan->a, in, static_cast<uint64_t>(k), static_cast<uint64_t>(n), k), "layout A"));
  MNEME_RETURN_IF_ERROR(Check(api_->layout_create(&plan->b, in, static_cast<uint64_t>(k), static_cast<uint64_t>(m), k), "layout B"));
  MNEME_RETURN_IF_ERROR(Check(api_->layout_create(&plan->c, CUDA_R_32F, static_cast<uint64_t>(n), static_cast<uint64_t>(m), ldy), "layout C"));
  cublasLtMatmulPreference_t pref = nullptr;
  MNEME_RETURN_IF_ERROR(Check(api_->pref_create(&pref), "PreferenceCreate"));
  const uint64_t ws = workspace_bytes_;
  absl::Status st = Check(api_->pref_set(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)), "set workspace");
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  if (st.ok()) {
    st = Check(api_->heuristic(static_cast<cublasLtHandle_t>(handle_), plan->desc, plan->a, plan->b,
                               plan->c, plan->c, pref, 1, &result, &found), "AlgoGetHeuristic");
  }
  api_->pref_destroy(pref);
  MNEME_RETURN_IF_ERROR(st);
  if (found == 0) {
    return absl::UnimplementedError(absl::StrFormat("cuBLASLt has no %s algorithm for %dx%dx%d",
                                                    bf16 ? "bf16" : "fp32", m, n, k));
  }
  plan->algo = result.algo;
  const Plan* p = plan.get();
  plans_.emplace(key, std::move(plan));
  return p;
}

absl::Status CublasLtGemm::Run(const void* x, const void* w, float* y, int64_t m, int64_t n,
                               int64_t k, int64_t ldy, bool accumulate, bool bf16,
                               cudaStream_t stream) {
  MNEME_ASSIGN_OR_RETURN(const Plan* p, GetPlan(m, n, k, ldy, bf16));
  const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  return Check(api_->matmul(static_cast<cublasLtHandle_t>(handle_), p->desc, &alpha, w, p->a, x,
                            p->b, &beta, y, p->c, y, p->c, &p->algo, workspace_, workspace_bytes_,
                            stream), "Matmul");
}

}  // namespace mneme::kernels::cuda
