#include "engine/model/model_config.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/file_util.h"
#include "common/json_util.h"
#include "common/status.h"

namespace mneme::model {
namespace {

using nlohmann::json;

// Typed, validated access to the keys of one JSON object. `prefix` ("" or "msa_config.") makes
// error messages name the full key. Absent keys and JSON null are treated alike.
class Keys {
 public:
  Keys(const json& obj, std::string_view source, std::string prefix)
      : obj_(obj), source_(source), prefix_(std::move(prefix)) {}

  absl::Status Error(absl::StatusCode code, std::string_view key, std::string_view what) const {
    return absl::Status(code, absl::StrFormat("%s: key '%s%s': %s", source_, prefix_, key, what));
  }
  absl::Status Invalid(std::string_view key, std::string_view what) const {
    return Error(absl::StatusCode::kInvalidArgument, key, what);
  }

  // The value of `key`, or nullptr when absent or null.
  const json* Get(std::string_view key) const {
    auto it = obj_.find(key);
    if (it == obj_.end() || it->is_null()) return nullptr;
    return &*it;
  }

  absl::StatusOr<int> Int(std::string_view key, std::optional<int> fallback) const {
    const json* v = Get(key);
    if (v == nullptr) {
      if (fallback.has_value()) return *fallback;
      return Invalid(key, "required key is missing");
    }
    return ToInt(key, *v);
  }

  absl::StatusOr<int> PositiveInt(std::string_view key, std::optional<int> fallback) const {
    MNEME_ASSIGN_OR_RETURN(int value, Int(key, fallback));
    if (value <= 0) return Invalid(key, absl::StrFormat("must be positive, got %d", value));
    return value;
  }

  absl::StatusOr<int> ToInt(std::string_view key, const json& v) const {
    if (v.is_number_unsigned()) {
      if (v.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<int>::max())) {
        return static_cast<int>(v.get<uint64_t>());
      }
    } else if (v.is_number_integer()) {
      const int64_t s = v.get<int64_t>();
      if (s >= std::numeric_limits<int>::min() && s <= std::numeric_limits<int>::max()) {
        return static_cast<int>(s);
      }
    } else {
      return Invalid(key, absl::StrFormat("expected an integer, got %s", DumpJson(v)));
    }
    return Invalid(key, absl::StrFormat("integer %s is out of range", DumpJson(v)));
  }

  absl::StatusOr<std::optional<double>> Double(std::string_view key) const {
    const json* v = Get(key);
    if (v == nullptr) return std::optional<double>();
    if (!v->is_number()) {
      return Invalid(key, absl::StrFormat("expected a number, got %s", DumpJson(*v)));
    }
    const double d = v->get<double>();
    if (!std::isfinite(d)) return Invalid(key, "not a finite number");
    return std::optional<double>(d);
  }

  absl::StatusOr<std::optional<bool>> Bool(std::string_view key) const {
    const json* v = Get(key);
    if (v == nullptr) return std::optional<bool>();
    if (!v->is_boolean()) {
      return Invalid(key, absl::StrFormat("expected true or false, got %s", DumpJson(*v)));
    }
    return std::optional<bool>(v->get<bool>());
  }

  absl::StatusOr<std::optional<std::string>> String(std::string_view key) const {
    const json* v = Get(key);
    if (v == nullptr) return std::optional<std::string>();
    if (!v->is_string()) {
      return Invalid(key, absl::StrFormat("expected a string, got %s", DumpJson(*v)));
    }
    return std::optional<std::string>(v->get<std::string>());
  }

  std::string_view source() const { return source_; }
  const std::string& prefix() const { return prefix_; }

 private:
  const json& obj_;
  std::string_view source_;
  std::string prefix_;
};

// Checks a rope_parameters / rope_scaling object: rope_type must be "default"; returns its
// rope_theta if it has one.
absl::StatusOr<std::optional<double>> ParseRopeObject(const Keys& top, std::string_view key) {
  const json* v = top.Get(key);
  if (v == nullptr) return std::optional<double>();
  if (!v->is_object()) {
    return top.Invalid(key, absl::StrFormat("expected an object or null, got %s", DumpJson(*v)));
  }
  const Keys rope(*v, top.source(), absl::StrFormat("%s.", key));
  for (std::string_view type_key : {"rope_type", "type"}) {
    MNEME_ASSIGN_OR_RETURN(std::optional<std::string> type, rope.String(type_key));
    if (type.has_value() && *type != "default") {
      return rope.Error(absl::StatusCode::kUnimplemented, type_key,
                        absl::StrFormat("rope_type '%s' is not supported (only 'default')", *type));
    }
  }
  MNEME_ASSIGN_OR_RETURN(std::optional<double> theta, rope.Double("rope_theta"));
  return theta;
}

absl::StatusOr<std::vector<int>> ParseRouterLayers(const Keys& msa, int num_layers) {
  constexpr std::string_view kKey = "router_layer_idx";
  const json* v = msa.Get(kKey);
  if (v == nullptr) return msa.Invalid(kKey, "required key is missing");
  std::vector<int> layers;
  if (v->is_string()) {
    const std::string& text = v->get_ref<const std::string&>();
    if (absl::StripAsciiWhitespace(text) == "all") {
      for (int i = 0; i < num_layers; ++i) layers.push_back(i);
    } else {
      for (absl::string_view piece : absl::StrSplit(text, ',')) {
        int layer;
        if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(piece), &layer)) {
          return msa.Invalid(kKey, absl::StrFormat("'%s' is not \"all\" or a comma-separated list "
                                                   "of layer numbers",
                                                   text));
        }
        layers.push_back(layer);
      }
    }
  } else if (v->is_array()) {
    for (const json& e : *v) {
      MNEME_ASSIGN_OR_RETURN(int layer, msa.ToInt(kKey, e));
      layers.push_back(layer);
    }
  } else if (v->is_number()) {
    MNEME_ASSIGN_OR_RETURN(int layer, msa.ToInt(kKey, *v));
    layers.push_back(layer);
  } else {
    return msa.Invalid(kKey, absl::StrFormat("expected \"all\", a comma list or an int list, "
                                             "got %s",
                                             DumpJson(*v)));
  }
  if (layers.empty()) return msa.Invalid(kKey, "no router layers");
  for (int layer : layers) {
    if (layer < 0 || layer >= num_layers) {
      return msa.Invalid(
          kKey, absl::StrFormat("router layer %d is out of range [0, %d)", layer, num_layers));
    }
  }
  std::sort(layers.begin(), layers.end());
  if (auto dup = std::adjacent_find(layers.begin(), layers.end()); dup != layers.end()) {
    return msa.Invalid(kKey, absl::StrFormat("router layer %d is listed twice", *dup));
  }
  return layers;
}

absl::StatusOr<MsaConfig> ParseMsaConfig(const Keys& top, int num_layers) {
  const json* v = top.Get("msa_config");
  if (v == nullptr) return top.Invalid("msa_config", "required for model_type 'msa'");
  if (!v->is_object()) {
    return top.Invalid("msa_config", absl::StrFormat("expected an object, got %s", DumpJson(*v)));
  }
  const Keys msa(*v, top.source(), "msa_config.");
  MsaConfig out;
  MNEME_ASSIGN_OR_RETURN(out.router_layers, ParseRouterLayers(msa, num_layers));
  MNEME_ASSIGN_OR_RETURN(out.top_k_docs, msa.PositiveInt("top_k_docs", out.top_k_docs));
  MNEME_ASSIGN_OR_RETURN(out.top_k_docs, msa.PositiveInt("doc_top_k", out.top_k_docs));
  MNEME_ASSIGN_OR_RETURN(out.pooling_kernel_size,
                         msa.PositiveInt("pooling_kernel_size", out.pooling_kernel_size));
  MNEME_ASSIGN_OR_RETURN(std::optional<bool> decouple, msa.Bool("decouple_router"));
  out.decouple_router = decouple.value_or(out.decouple_router);
  MNEME_ASSIGN_OR_RETURN(std::optional<std::string> aux, msa.String("aux_loss_method"));
  out.aux_loss_method = aux.value_or("");
  struct {
    const char* key;
    std::string* field;
  } reduce[] = {{"head_reduce_method", &out.head_reduce_method},
                {"query_reduce_method", &out.query_reduce_method},
                {"chunk_reduce_method", &out.chunk_reduce_method}};
  for (const auto& r : reduce) {
    MNEME_ASSIGN_OR_RETURN(std::optional<std::string> method, msa.String(r.key));
    if (method.has_value()) {
      if (method->empty()) return msa.Invalid(r.key, "empty string");
      *r.field = *method;
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<ModelConfig> ParseModelConfig(std::string_view json_text, std::string_view source) {
  MNEME_ASSIGN_OR_RETURN(json root, ParseJson(json_text, source));
  if (!root.is_object()) {
    return absl::InvalidArgumentError(absl::StrFormat("%s: config is not a JSON object", source));
  }
  const Keys keys(root, source, "");
  ModelConfig c;
  c.source = std::string(source);

  MNEME_ASSIGN_OR_RETURN(std::optional<std::string> model_type, keys.String("model_type"));
  if (!model_type.has_value()) return keys.Invalid("model_type", "required key is missing");
  if (*model_type == "qwen3") {
    c.model_type = ModelType::kQwen3;
  } else if (*model_type == "msa") {
    c.model_type = ModelType::kMsa;
  } else {
    return absl::InvalidArgumentError(absl::StrFormat(
        "unknown model_type '%s' in %s; supported: qwen3, msa", *model_type, source));
  }

  MNEME_ASSIGN_OR_RETURN(c.vocab_size, keys.PositiveInt("vocab_size", std::nullopt));
  MNEME_ASSIGN_OR_RETURN(c.hidden_size, keys.PositiveInt("hidden_size", std::nullopt));
  MNEME_ASSIGN_OR_RETURN(c.intermediate_size, keys.PositiveInt("intermediate_size", std::nullopt));
  MNEME_ASSIGN_OR_RETURN(c.num_hidden_layers, keys.PositiveInt("num_hidden_layers", std::nullopt));
  MNEME_ASSIGN_OR_RETURN(c.num_attention_heads,
                         keys.PositiveInt("num_attention_heads", std::nullopt));
  MNEME_ASSIGN_OR_RETURN(c.num_key_value_heads,
                         keys.PositiveInt("num_key_value_heads", c.num_attention_heads));
  if (c.num_attention_heads % c.num_key_value_heads != 0) {
    return keys.Invalid("num_key_value_heads",
                        absl::StrFormat("num_attention_heads (%d) is not divisible by "
                                        "num_key_value_heads (%d)",
                                        c.num_attention_heads, c.num_key_value_heads));
  }
  if (keys.Get("head_dim") == nullptr && c.hidden_size % c.num_attention_heads != 0) {
    return keys.Invalid("head_dim", absl::StrFormat("absent, and hidden_size (%d) is not "
                                                    "divisible by num_attention_heads (%d)",
                                                    c.hidden_size, c.num_attention_heads));
  }
  MNEME_ASSIGN_OR_RETURN(c.head_dim,
                         keys.PositiveInt("head_dim", c.hidden_size / c.num_attention_heads));
  MNEME_ASSIGN_OR_RETURN(c.max_position_embeddings,
                         keys.PositiveInt("max_position_embeddings", c.max_position_embeddings));

  MNEME_ASSIGN_OR_RETURN(std::optional<double> eps, keys.Double("rms_norm_eps"));
  c.rms_norm_eps = eps.value_or(c.rms_norm_eps);
  if (!(c.rms_norm_eps > 0)) return keys.Invalid("rms_norm_eps", "must be positive");

  // RoPE: rope_theta at top level (transformers 4) or inside rope_parameters (transformers 5).
  MNEME_ASSIGN_OR_RETURN(std::optional<double> top_theta, keys.Double("rope_theta"));
  MNEME_ASSIGN_OR_RETURN(std::optional<double> params_theta,
                         ParseRopeObject(keys, "rope_parameters"));
  MNEME_ASSIGN_OR_RETURN(std::optional<double> scaling_theta,
                         ParseRopeObject(keys, "rope_scaling"));
  const std::pair<const char*, std::optional<double>> thetas[] = {
      {"rope_theta", top_theta},
      {"rope_parameters.rope_theta", params_theta},
      {"rope_scaling.rope_theta", scaling_theta}};
  std::optional<double> theta;
  const char* theta_key = "rope_theta";
  for (const auto& [key, value] : thetas) {
    if (!value.has_value()) continue;
    if (theta.has_value() && *theta != *value) {
      return keys.Invalid(key,
                          absl::StrFormat("%g disagrees with %s = %g", *value, theta_key, *theta));
    }
    theta = value;
    theta_key = key;
  }
  c.rope_theta = theta.value_or(c.rope_theta);
  if (!(c.rope_theta > 0)) return keys.Invalid(theta_key, "must be positive");

  MNEME_ASSIGN_OR_RETURN(std::optional<bool> tie, keys.Bool("tie_word_embeddings"));
  c.tie_word_embeddings = tie.value_or(false);

  // dtype (transformers 5) wins over torch_dtype (transformers 4).
  for (const char* key : {"torch_dtype", "dtype"}) {
    MNEME_ASSIGN_OR_RETURN(std::optional<std::string> dtype, keys.String(key));
    if (!dtype.has_value()) continue;
    if (*dtype != "float32" && *dtype != "bfloat16" && *dtype != "float16") {
      return keys.Invalid(key, absl::StrFormat("unsupported dtype '%s' (expected float32, "
                                               "bfloat16 or float16)",
                                               *dtype));
    }
    c.dtype = *dtype;
  }

  MNEME_ASSIGN_OR_RETURN(std::optional<std::string> act, keys.String("hidden_act"));
  if (act.has_value() && *act != "silu") {
    return keys.Error(absl::StatusCode::kUnimplemented, "hidden_act",
                      absl::StrFormat("activation '%s' is not supported (only 'silu')", *act));
  }
  MNEME_ASSIGN_OR_RETURN(std::optional<bool> bias, keys.Bool("attention_bias"));
  if (bias.value_or(false)) {
    return keys.Error(absl::StatusCode::kUnimplemented, "attention_bias",
                      "attention biases are not supported");
  }

  // Sliding-window attention is not implemented.
  MNEME_ASSIGN_OR_RETURN(std::optional<bool> use_sw, keys.Bool("use_sliding_window"));
  if (use_sw.value_or(false)) {
    return keys.Error(absl::StatusCode::kUnimplemented, "use_sliding_window",
                      "sliding-window attention is not supported");
  }
  if (const json* sw = keys.Get("sliding_window");
      sw != nullptr && !sw->is_boolean() && !sw->is_number_integer()) {
    return keys.Invalid("sliding_window",
                        absl::StrFormat("expected null, a bool or an int, got %s", DumpJson(*sw)));
  }
  if (const json* lt = keys.Get("layer_types"); lt != nullptr) {
    if (!lt->is_array() || lt->size() != static_cast<size_t>(c.num_hidden_layers)) {
      return keys.Invalid(
          "layer_types", absl::StrFormat("expected a list of %d layer types", c.num_hidden_layers));
    }
    for (const json& t : *lt) {
      if (!t.is_string()) return keys.Invalid("layer_types", "entries must be strings");
      if (t.get_ref<const std::string&>() != "full_attention") {
        return keys.Error(absl::StatusCode::kUnimplemented, "layer_types",
                          absl::StrFormat("layer type '%s' is not supported (only "
                                          "'full_attention')",
                                          t.get_ref<const std::string&>()));
      }
    }
  }

  if (const json* eos = keys.Get("eos_token_id"); eos != nullptr) {
    std::vector<const json*> ids;
    if (eos->is_array()) {
      for (const json& e : *eos) ids.push_back(&e);
    } else {
      ids.push_back(eos);
    }
    for (const json* e : ids) {
      MNEME_ASSIGN_OR_RETURN(int id, keys.ToInt("eos_token_id", *e));
      if (id < 0) return keys.Invalid("eos_token_id", "token ids must be non-negative");
      c.eos_token_ids.push_back(id);
    }
  }

  if (c.model_type == ModelType::kMsa) {
    MNEME_ASSIGN_OR_RETURN(MsaConfig msa, ParseMsaConfig(keys, c.num_hidden_layers));
    c.msa = std::move(msa);
  }
  return c;
}

absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& model_dir) {
  std::string path = model_dir;
  if (!path.empty() && path.back() != '/') path += '/';
  path += "config.json";
  MNEME_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path, size_t{16} << 20));
  return ParseModelConfig(text, path);
}

}  // namespace mneme::model
