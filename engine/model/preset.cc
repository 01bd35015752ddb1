#include "engine/model/preset.h"

#include <sys/stat.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <random>

#include "absl/strings/str_format.h"
#include "common/file_util.h"
#include "common/half.h"
#include "common/json_util.h"
#include "common/status.h"
#include "engine/model/safetensors_writer.h"
#include "engine/tokenizer/tokenizer.h"

namespace mneme::model {
namespace {

// Text the preset tokenizers learn their merges from: the MSA templates plus mixed prose.
const std::vector<std::string>& Corpus() {
  static const auto* corpus = new std::vector<std::string>{
      "Please answer the question based on the above historical document information",
      "Please return all documents related to the question",
      "The answer to the question is: the contract was amended on the first of March.",
      "The user's question is: which sensor reported the highest temperature yesterday?",
      "This Agreement is entered into by and between the parties. The Supplier shall deliver "
      "the goods within thirty days. Either party may terminate this Agreement with notice.",
      "Amendment No. 2 to the Master Services Agreement changes the payment terms to net 45.",
      "Sensor 17 reported temperature 73.4 F at 12:05; vibration 0.003 g; pressure 101325 Pa.",
      "Maintenance record: pump P-201 replaced bearing; next inspection scheduled in 90 days.",
      "Memory sparse attention routes each query to the most relevant documents in memory.",
      "Each document is encoded once, alone, with its own positions, and stored compressed.",
      "the of and to in is that for it as with was on be by at this are from have not or",
      "机器学习是人工智能的一个分支。长上下文语言模型需要记忆。合同的修订于三月生效。",
      "def forward(self, x):\n    return self.proj(x)\n",
      "0 1 2 3 4 5 6 7 8 9 10 20 30 100 2026-11-25 12:00:00",
  };
  return *corpus;
}

// Standard normal draws from a 64-bit Mersenne Twister via Box-Muller: the same bits on every
// platform (std::normal_distribution is implementation-defined).
class Gaussian {
 public:
  explicit Gaussian(uint64_t seed) : rng_(seed) {}
  float Next() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u1 = (static_cast<double>(rng_() >> 11) + 1.0) * 0x1.0p-53;  // (0, 1]
    double u2 = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
    double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = static_cast<float>(r * std::sin(2.0 * M_PI * u2));
    has_spare_ = true;
    return static_cast<float>(r * std::cos(2.0 * M_PI * u2));
  }

 private:
  std::mt19937_64 rng_;
  bool has_spare_ = false;
  float spare_ = 0.0f;
};

struct PendingTensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<uint16_t> bf16;
};

}  // namespace

absl::StatusOr<PresetSpec> FindPreset(const std::string& name) {
  const bool msa = name.size() > 4 && name.compare(name.size() - 4, 4, "-msa") == 0;
  const std::string base = msa ? name.substr(0, name.size() - 4) : name;
  PresetSpec spec;
  if (base == "tiny") {
    spec = PresetSpec{"tiny", 64, 160, 2, 4, 2, 16, 200, 1e6, false, 4096};
    spec.top_k_docs = 4;
  } else if (base == "small") {
    spec = PresetSpec{"small", 512, 1536, 8, 8, 4, 64, 1500, 1e6, true, 8192};
    spec.top_k_docs = 8;
  } else if (base == "4b") {
    // Qwen3-4B's transformer shape (MSA-4B's backbone): the GPU benchmarks' model. Its
    // vocabulary is the preset tokenizer's, not Qwen's 151,936.
    spec = PresetSpec{"4b", 2560, 9728, 36, 32, 8, 128, 1500, 1e6, true, 40960};
    spec.top_k_docs = 16;
  } else {
    return absl::InvalidArgumentError("unknown preset '" + name +
                                      "'; expected tiny, small, 4b, tiny-msa, small-msa or 4b-msa");
  }
  spec.name = name;
  spec.msa = msa;
  return spec;
}

const std::vector<std::string>& PresetSpecialTokens() {
  static const auto* tokens = new std::vector<std::string>{
      "<|endoftext|>",   "<|im_start|>",       "<|im_end|>",         "<|object_ref_start|>",
      "<|object_ref_end|>", "<|box_start|>",   "<|box_end|>",        "<End-of-Retrieve>",
      "<regenerate>",    "<think>",            "</think>"};
  return *tokens;
}

absl::StatusOr<WrittenCheckpoint> WritePresetCheckpoint(const PresetSpec& spec, uint64_t seed,
                                                        const std::string& out_dir) {
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: cannot create directory: %s", out_dir, ec.message()));
  }
  if (std::filesystem::exists(out_dir + "/config.json")) {
    return absl::FailedPreconditionError(
        absl::StrFormat("%s already holds a model (config.json); choose an empty directory", out_dir));
  }
  // Tokenizer first: the vocabulary size follows from it (rounded up to a multiple of 64, as
  // real checkpoints pad their embedding tables).
  MNEME_ASSIGN_OR_RETURN(std::string tok_json, tokenizer::BuildByteLevelBpeJson(
                                                   Corpus(), spec.bpe_merges, PresetSpecialTokens()));
  MNEME_ASSIGN_OR_RETURN(auto tok, tokenizer::Tokenizer::FromJson(tok_json, "preset tokenizer"));
  const int vocab = (tok->vocab_size() + 63) / 64 * 64;
  const std::optional<int32_t> eos = tok->TokenToId("<|im_end|>");
  const std::optional<int32_t> eot = tok->TokenToId("<|endoftext|>");
  if (!eos || !eot) return absl::InternalError("preset tokenizer lacks its special tokens");

  const int64_t h = spec.hidden_size, d = spec.head_dim, inter = spec.intermediate_size;
  std::vector<PendingTensor> tensors;
  Gaussian gauss(seed);
  int64_t params = 0;
  auto add = [&](const std::string& name, std::vector<int64_t> shape, bool ones) {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    PendingTensor t{name, std::move(shape), std::vector<uint16_t>(static_cast<size_t>(n))};
    for (auto& v : t.bf16) v = FloatToBf16(ones ? 1.0f : 0.02f * gauss.Next());
    params += n;
    tensors.push_back(std::move(t));
  };
  add("model.embed_tokens.weight", {vocab, h}, false);
  for (int l = 0; l < spec.num_layers; ++l) {
    const std::string p = absl::StrFormat("model.layers.%d.", l);
    add(p + "input_layernorm.weight", {h}, true);
    add(p + "self_attn.q_proj.weight", {spec.num_heads * d, h}, false);
    add(p + "self_attn.k_proj.weight", {spec.num_kv_heads * d, h}, false);
    add(p + "self_attn.v_proj.weight", {spec.num_kv_heads * d, h}, false);
    add(p + "self_attn.o_proj.weight", {h, spec.num_heads * d}, false);
    add(p + "self_attn.q_norm.weight", {d}, true);
    add(p + "self_attn.k_norm.weight", {d}, true);
    add(p + "post_attention_layernorm.weight", {h}, true);
    add(p + "mlp.gate_proj.weight", {inter, h}, false);
    add(p + "mlp.up_proj.weight", {inter, h}, false);
    add(p + "mlp.down_proj.weight", {h, inter}, false);
    if (spec.msa && l >= spec.num_layers / 2) {
      add(p + "self_attn.router_q_proj.0.weight", {spec.num_heads * d, h}, false);
      add(p + "self_attn.router_k_proj.0.weight", {spec.num_kv_heads * d, h}, false);
    }
  }
  add("model.norm.weight", {h}, true);
  if (!spec.tie_word_embeddings) add("lm_head.weight", {vocab, h}, false);

  std::vector<TensorToWrite> to_write;
  for (const PendingTensor& t : tensors) {
    to_write.push_back({t.name, DType::kBF16, t.shape,
                        std::string_view(reinterpret_cast<const char*>(t.bf16.data()),
                                         t.bf16.size() * sizeof(uint16_t))});
  }
  MNEME_RETURN_IF_ERROR(WriteSafetensors(out_dir + "/model.safetensors", to_write,
                                         {{"format", "pt"}, {"mneme_preset", spec.name}}));

  nlohmann::json cfg = {
      {"architectures", {"Qwen3ForCausalLM"}},
      {"model_type", "qwen3"},
      {"vocab_size", vocab},
      {"hidden_size", h},
      {"intermediate_size", inter},
      {"num_hidden_layers", spec.num_layers},
      {"num_attention_heads", spec.num_heads},
      {"num_key_value_heads", spec.num_kv_heads},
      {"head_dim", d},
      {"hidden_act", "silu"},
      {"max_position_embeddings", spec.max_position_embeddings},
      {"rms_norm_eps", 1e-6},
      {"rope_parameters", {{"rope_theta", spec.rope_theta}, {"rope_type", "default"}}},
      {"tie_word_embeddings", spec.tie_word_embeddings},
      {"attention_bias", false},
      {"use_sliding_window", false},
      {"sliding_window", nullptr},
      {"dtype", "bfloat16"},
      {"bos_token_id", nullptr},
      {"eos_token_id", *eos},
      {"initializer_range", 0.02},
      {"mneme_preset", spec.name},
  };
  if (spec.msa) {
    std::string layers;
    for (int l = spec.num_layers / 2; l < spec.num_layers; ++l) {
      layers += (layers.empty() ? "" : ",") + std::to_string(l);
    }
    cfg["model_type"] = "msa";
    cfg["architectures"] = {"MSAForCausalLM"};
    cfg["msa_config"] = {{"router_layer_idx", layers},
                         {"top_k_docs", spec.top_k_docs},
                         {"pooling_kernel_size", 64},
                         {"decouple_router", true},
                         {"aux_loss_method", "INFONCE_DECOUPLE"},
                         {"head_reduce_method", "mean"},
                         {"query_reduce_method", "max"},
                         {"chunk_reduce_method", "max"},
                         {"decouple_pooling_mode", "mean"},
                         {"rewrite_position", true}};
  }
  nlohmann::json gen = {{"eos_token_id", {*eos, *eot}}, {"do_sample", false}};
  nlohmann::json tok_cfg = {{"tokenizer_class", "Qwen2TokenizerFast"},
                            {"eos_token", "<|im_end|>"},
                            {"pad_token", "<|endoftext|>"},
                            {"model_max_length", spec.max_position_embeddings},
                            {"add_prefix_space", false}};
  MNEME_RETURN_IF_ERROR(WriteFileAtomic(out_dir + "/tokenizer.json", tok_json));
  MNEME_RETURN_IF_ERROR(WriteFileAtomic(out_dir + "/tokenizer_config.json", DumpJson(tok_cfg, 2)));
  MNEME_RETURN_IF_ERROR(WriteFileAtomic(out_dir + "/generation_config.json", DumpJson(gen, 2)));
  // config.json last: its presence marks a complete checkpoint.
  MNEME_RETURN_IF_ERROR(WriteFileAtomic(out_dir + "/config.json", DumpJson(cfg, 2)));
  return WrittenCheckpoint{out_dir, vocab, params,
                           {"config.json", "generation_config.json", "model.safetensors",
                            "tokenizer.json", "tokenizer_config.json"}};
}

}  // namespace mneme::model
