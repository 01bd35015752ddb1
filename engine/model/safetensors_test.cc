#include "engine/model/safetensors.h"

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/model/safetensors_writer.h"
#include "engine/model/weight_source.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mneme::model {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kF32Dir[] = "tests/fixtures/hf/qwen3_f32";
constexpr char kBf16Dir[] = "tests/fixtures/hf/qwen3_bf16_sharded";

// A fresh, empty directory for the current test.
std::string FreshDir() {
  static int counter = 0;
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string dir = ::testing::TempDir();
  if (!dir.empty() && dir.back() != '/') dir += '/';
  dir += "mneme_model_files_" + std::string(info->name()) + "_" + std::to_string(::getpid()) +
         "_" + std::to_string(counter++);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

void WriteRaw(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

std::string ReadRaw(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string LengthPrefix(uint64_t n) {
  std::string out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  return out;
}

// A safetensors file with a hand-written header and `data_bytes` zero bytes of data.
std::string MakeFile(const std::string& header, size_t data_bytes) {
  return LengthPrefix(header.size()) + header + std::string(data_bytes, '\0');
}

// Asserts `s` has `code` and its message contains every string of `parts`.
void ExpectError(const absl::Status& s, absl::StatusCode code,
                 const std::vector<std::string>& parts) {
  EXPECT_EQ(s.code(), code) << s;
  for (const std::string& p : parts) EXPECT_THAT(std::string(s.message()), HasSubstr(p));
}

// Writes `bytes` to a fresh file and returns the status of opening it.
absl::Status OpenBytes(const std::string& bytes, std::string* path_out) {
  *path_out = FreshDir() + "/t.safetensors";
  WriteRaw(*path_out, bytes);
  return SafetensorsFile::Open(*path_out).status();
}

uint32_t FloatBits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, sizeof(b));
  return b;
}

// ---- real checkpoints -----------------------------------------------------------------------

TEST(WeightSourceTest, LoadsF32Fixture) {
  auto ws = WeightSource::Open(kF32Dir);
  ASSERT_TRUE(ws.ok()) << ws.status();
  EXPECT_EQ((*ws)->size(), 25u);  // embed, norm, lm_head + 2 layers x 11
  const TensorInfo* embed = (*ws)->Find("model.embed_tokens.weight");
  ASSERT_NE(embed, nullptr);
  EXPECT_EQ(embed->dtype, DType::kF32);
  EXPECT_THAT(embed->shape, ElementsAre(713, 64));
  EXPECT_EQ(embed->numel(), 713 * 64);
  EXPECT_EQ(embed->nbytes, 713u * 64u * 4u);
  ASSERT_NE((*ws)->Find("lm_head.weight"), nullptr);
  const TensorInfo* k = (*ws)->Find("model.layers.1.self_attn.k_proj.weight");
  ASSERT_NE(k, nullptr);
  EXPECT_THAT(k->shape, ElementsAre(32, 64));  // kv_heads 2 x head_dim 16
  EXPECT_EQ((*ws)->Find("model.layers.2.self_attn.k_proj.weight"), nullptr);

  std::vector<float> values(713 * 64);
  ASSERT_TRUE((*ws)->ReadF32("model.embed_tokens.weight", {713, 64}, values.data()).ok());
  EXPECT_EQ(std::memcmp(values.data(), embed->data, embed->nbytes), 0);
  // First elements, read independently (Python struct) from the fixture file.
  EXPECT_EQ(FloatBits(values[0]), 0xbdb4f5f9u);
  EXPECT_EQ(FloatBits(values[1]), 0xbd305456u);
  EXPECT_EQ(FloatBits(values[3]), 0x3df778e9u);
  float absmax = 0;
  for (float v : values) absmax = std::max(absmax, std::abs(v));
  EXPECT_GT(absmax, 0.0f);  // real, non-zero weights

  std::vector<std::string> names = (*ws)->Names();
  EXPECT_EQ(names.size(), 25u);
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));

  auto file = SafetensorsFile::Open(std::string(kF32Dir) + "/model.safetensors");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->metadata().at("format"), "pt");
  EXPECT_EQ((*file)->tensors().size(), 25u);
}

TEST(WeightSourceTest, LoadsShardedBf16Fixture) {
  auto ws = WeightSource::Open(kBf16Dir);
  ASSERT_TRUE(ws.ok()) << ws.status();
  EXPECT_EQ((*ws)->size(), 35u);  // embed, norm + 3 layers x 11; lm_head tied
  EXPECT_EQ((*ws)->Find("lm_head.weight"), nullptr);
  for (const char* name : {"model.embed_tokens.weight", "model.layers.0.mlp.down_proj.weight",
                           "model.layers.2.mlp.down_proj.weight", "model.norm.weight"}) {
    ASSERT_NE((*ws)->Find(name), nullptr) << name;
    EXPECT_EQ((*ws)->Find(name)->dtype, DType::kBF16) << name;
  }
  EXPECT_THAT((*ws)->Find("model.layers.2.mlp.down_proj.weight")->shape, ElementsAre(64, 160));

  const TensorInfo* embed = (*ws)->Find("model.embed_tokens.weight");
  EXPECT_THAT(embed->shape, ElementsAre(713, 64));
  std::vector<float> values(713 * 64);
  ASSERT_TRUE((*ws)->ReadF32("model.embed_tokens.weight", {713, 64}, values.data()).ok());
  int nonzero = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    uint16_t raw;
    std::memcpy(&raw, embed->data + 2 * i, 2);
    ASSERT_EQ(FloatBits(values[i]), static_cast<uint32_t>(raw) << 16) << "element " << i;
    nonzero += values[i] != 0.0f;
  }
  EXPECT_GT(nonzero, 1000);

  // Values read independently (Python struct) from the fixture files.
  EXPECT_THAT(std::vector<float>(values.begin(), values.begin() + 4),
              ElementsAre(0.04248046875f, 0.1005859375f, 0.10546875f, -0.025390625f));
  std::vector<float> norm(64);
  ASSERT_TRUE((*ws)->ReadF32("model.norm.weight", {64}, norm.data()).ok());  // last shard
  EXPECT_THAT(std::vector<float>(norm.begin(), norm.begin() + 4),
              ElementsAre(1.1171875f, 0.9296875f, 1.1875f, 0.94921875f));
}

TEST(WeightSourceTest, FingerprintIsStableAndLayoutSensitive) {
  auto a = WeightSource::Open(kF32Dir);
  auto b = WeightSource::Open(kF32Dir);
  auto c = WeightSource::Open(kBf16Dir);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  const std::string fa = (*a)->Fingerprint();
  EXPECT_EQ(fa.size(), 16u);
  EXPECT_EQ(fa.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(fa, (*b)->Fingerprint());
  EXPECT_NE(fa, (*c)->Fingerprint());

  // Rewriting the same tensors (different order, different values) keeps the fingerprint;
  // dropping one changes it.
  const std::string dir = FreshDir();
  std::vector<TensorToWrite> out;
  std::vector<std::string> zeros;
  zeros.reserve((*a)->size());
  std::vector<std::string> names = (*a)->Names();
  for (auto it = names.rbegin(); it != names.rend(); ++it) {
    const TensorInfo* t = (*a)->Find(*it);
    zeros.emplace_back(t->nbytes, '\0');
    out.push_back({t->name, t->dtype, t->shape, zeros.back()});
  }
  ASSERT_TRUE(WriteSafetensors(dir + "/model.safetensors", out, {}).ok());
  auto copy = WeightSource::Open(dir);
  ASSERT_TRUE(copy.ok()) << copy.status();
  EXPECT_EQ((*copy)->Fingerprint(), fa);
  out.pop_back();
  ASSERT_TRUE(WriteSafetensors(dir + "/model.safetensors", out, {}).ok());
  copy = WeightSource::Open(dir);
  ASSERT_TRUE(copy.ok()) << copy.status();
  EXPECT_NE((*copy)->Fingerprint(), fa);
}

TEST(WeightSourceTest, ReadF32Errors) {
  auto ws = WeightSource::Open(kF32Dir);
  ASSERT_TRUE(ws.ok()) << ws.status();
  std::vector<float> buf(713 * 64);
  ExpectError((*ws)->ReadF32("model.no_such.weight", {1}, buf.data()),
              absl::StatusCode::kNotFound, {"model.no_such.weight", kF32Dir});
  ExpectError((*ws)->ReadF32("model.embed_tokens.weight", {64, 713}, buf.data()),
              absl::StatusCode::kInvalidArgument,
              {"model.embed_tokens.weight", "[713, 64]", "expected [64, 713]", kF32Dir});
}

// ---- writer round trip ----------------------------------------------------------------------

TEST(SafetensorsWriterTest, RoundTrips) {
  const std::string path = FreshDir() + "/rt.safetensors";
  const float f32[6] = {1.5f, -2.0f, 0.0f, 3.25f, 1e-8f, -7.0f};
  const uint16_t f16[3] = {0x3C00, 0xC000, 0x3800};  // 1, -2, 0.5
  const uint16_t bf16[2] = {0x3F80, 0xC0A0};         // 1, -5
  const float scalar = 42.0f;
  std::vector<TensorToWrite> tensors = {
      {"z.f32", DType::kF32, {2, 3}, {reinterpret_cast<const char*>(f32), sizeof(f32)}},
      {"a.f16", DType::kF16, {3}, {reinterpret_cast<const char*>(f16), sizeof(f16)}},
      {"m.bf16", DType::kBF16, {1, 2}, {reinterpret_cast<const char*>(bf16), sizeof(bf16)}},
      {"scalar", DType::kF32, {}, {reinterpret_cast<const char*>(&scalar), sizeof(scalar)}},
      {"empty", DType::kBF16, {0, 4}, {}},
  };
  ASSERT_TRUE(WriteSafetensors(path, tensors, {{"format", "pt"}, {"who", "mneme"}}).ok());

  const std::string bytes = ReadRaw(path);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | static_cast<uint8_t>(bytes[i]);
  EXPECT_EQ(header_len % 8, 0u);
  EXPECT_EQ(bytes.size(), 8 + header_len + sizeof(f32) + sizeof(f16) + sizeof(bf16) + 4);

  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->metadata().size(), 2u);
  EXPECT_EQ((*file)->metadata().at("who"), "mneme");
  ASSERT_EQ((*file)->tensors().size(), 5u);
  EXPECT_EQ((*file)->tensors()[0].name, "a.f16");  // sorted by name
  const TensorInfo* z = (*file)->Find("z.f32");
  const TensorInfo* a = (*file)->Find("a.f16");
  const TensorInfo* m = (*file)->Find("m.bf16");
  const TensorInfo* s = (*file)->Find("scalar");
  const TensorInfo* e = (*file)->Find("empty");
  ASSERT_TRUE(z && a && m && s && e);
  // Data laid out contiguously in the given order.
  const uint8_t* base = z->data - 8 - header_len;  // z is first: data offset 0
  EXPECT_EQ(std::memcmp(base, bytes.data(), bytes.size()), 0);
  EXPECT_EQ(a->data, z->data + sizeof(f32));
  EXPECT_EQ(m->data, a->data + sizeof(f16));
  EXPECT_EQ(s->data, m->data + sizeof(bf16));
  EXPECT_EQ(std::memcmp(z->data, f32, sizeof(f32)), 0);
  EXPECT_THAT(z->shape, ElementsAre(2, 3));
  EXPECT_TRUE(s->shape.empty());
  EXPECT_EQ(s->numel(), 1);
  EXPECT_EQ(e->numel(), 0);
  EXPECT_EQ(e->nbytes, 0u);
  EXPECT_EQ((*file)->Find("nope"), nullptr);

  // fp16 / bf16 conversion through WeightSource.
  const std::string dir = path.substr(0, path.rfind('/'));
  std::filesystem::rename(path, dir + "/model.safetensors");
  auto ws = WeightSource::Open(dir);
  ASSERT_TRUE(ws.ok()) << ws.status();
  float out[6];
  ASSERT_TRUE((*ws)->ReadF32("a.f16", {3}, out).ok());
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], -2.0f);
  EXPECT_EQ(out[2], 0.5f);
  ASSERT_TRUE((*ws)->ReadF32("m.bf16", {1, 2}, out).ok());
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], -5.0f);
  ASSERT_TRUE((*ws)->ReadF32("z.f32", {2, 3}, out).ok());
  EXPECT_EQ(out[4], 1e-8f);
  ASSERT_TRUE((*ws)->ReadF32("empty", {0, 4}, out).ok());
}

TEST(SafetensorsWriterTest, RejectsBadTensors) {
  const std::string path = FreshDir() + "/bad.safetensors";
  const char bytes[8] = {};
  ExpectError(WriteSafetensors(path, {{"w", DType::kF32, {3}, {bytes, 8}}}, {}),
              absl::StatusCode::kInvalidArgument, {path, "'w'", "needs 12 bytes"});
  ExpectError(WriteSafetensors(path, {{"w", DType::kF32, {2}, {bytes, 8}},
                                      {"w", DType::kF32, {2}, {bytes, 8}}},
                               {}),
              absl::StatusCode::kInvalidArgument, {path, "duplicate"});
  ExpectError(WriteSafetensors(path, {{"w", DType::kF32, {-2}, {bytes, 8}}}, {}),
              absl::StatusCode::kInvalidArgument, {path, "negative"});
  EXPECT_FALSE(std::filesystem::exists(path));
}

// ---- malformed files ------------------------------------------------------------------------

std::string Entry(const std::string& name, const std::string& dtype, const std::string& shape,
                  const std::string& offsets) {
  return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape +
         ",\"data_offsets\":" + offsets + "}";
}

TEST(SafetensorsFileTest, RejectsMalformedFiles) {
  struct Case {
    const char* label;
    std::string bytes;
    absl::StatusCode code;
    std::vector<std::string> parts;
  };
  using C = absl::StatusCode;
  const std::vector<Case> cases = {
      {"shorter than 8 bytes", "\x01\x02\x03", C::kDataLoss, {"3 bytes", "8-byte"}},
      {"header length beyond file", LengthPrefix(1000) + "{}", C::kDataLoss,
       {"header length 1000", "truncated"}},
      {"header length over 100 MiB", LengthPrefix(uint64_t{200} << 20) + "{}",
       C::kInvalidArgument, {"100 MiB"}},
      {"header length 1", LengthPrefix(1) + "{", C::kInvalidArgument, {"too small"}},
      {"header not JSON", MakeFile("{\"w\": {", 0), C::kInvalidArgument, {"malformed JSON"}},
      {"header not an object", MakeFile("[1, 2]  ", 0), C::kInvalidArgument,
       {"not a JSON object"}},
      {"entry not an object", MakeFile("{\"w\": 5}", 0), C::kInvalidArgument,
       {"'w'", "not a JSON object"}},
      {"unknown dtype", MakeFile("{" + Entry("w", "Q7", "[2]", "[0,8]") + "}", 8),
       C::kInvalidArgument, {"'w'", "unknown dtype \"Q7\""}},
      {"F64 dtype", MakeFile("{" + Entry("w", "F64", "[1]", "[0,8]") + "}", 8),
       C::kUnimplemented, {"'w'", "F64"}},
      {"I32 dtype", MakeFile("{" + Entry("w", "I32", "[2]", "[0,8]") + "}", 8),
       C::kUnimplemented, {"'w'", "I32"}},
      {"missing dtype", MakeFile("{\"w\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8),
       C::kInvalidArgument, {"'w'", "missing \"dtype\""}},
      {"negative shape", MakeFile("{" + Entry("w", "F32", "[-2]", "[0,8]") + "}", 8),
       C::kInvalidArgument, {"'w'", "non-negative"}},
      {"float shape", MakeFile("{" + Entry("w", "F32", "[2.0]", "[0,8]") + "}", 8),
       C::kInvalidArgument, {"'w'", "non-negative integer"}},
      {"element count overflow",
       MakeFile("{" + Entry("w", "F32", "[4294967296,4294967296,4]", "[0,8]") + "}", 8),
       C::kInvalidArgument, {"'w'", "overflows"}},
      {"shape/size mismatch", MakeFile("{" + Entry("w", "F32", "[3]", "[0,8]") + "}", 8),
       C::kInvalidArgument, {"'w'", "span 8 bytes", "needs 12 bytes"}},
      {"offsets past end", MakeFile("{" + Entry("w", "F32", "[4]", "[8,24]") + "}", 16),
       C::kDataLoss, {"'w'", "[8, 24]", "past the end"}},
      {"offsets reversed", MakeFile("{" + Entry("w", "F32", "[2]", "[8,0]") + "}", 8),
       C::kInvalidArgument, {"'w'", "reversed"}},
      {"offsets not a pair", MakeFile("{" + Entry("w", "F32", "[2]", "[0]") + "}", 8),
       C::kInvalidArgument, {"'w'", "data_offsets"}},
      {"negative offset", MakeFile("{" + Entry("w", "F32", "[0]", "[-1,-1]") + "}", 8),
       C::kInvalidArgument, {"'w'", "data_offsets"}},
      {"overlapping tensors",
       MakeFile("{" + Entry("a", "F32", "[4]", "[0,16]") + "," +
                    Entry("b", "F32", "[4]", "[8,24]") + "}",
                24),
       C::kInvalidArgument, {"'a'", "'b'", "overlap"}},
      {"nested overlap",
       MakeFile("{" + Entry("a", "F32", "[8]", "[0,32]") + "," +
                    Entry("b", "F32", "[1]", "[4,8]") + "," + Entry("c", "F32", "[1]", "[16,20]") +
                    "}",
                32),
       C::kInvalidArgument, {"'a'", "overlap"}},
      {"duplicate names",
       MakeFile("{" + Entry("w", "F32", "[2]", "[0,8]") + "," +
                    Entry("w", "F32", "[2]", "[8,16]") + "}",
                16),
       C::kInvalidArgument, {"duplicate key 'w'"}},
      {"bad metadata", MakeFile("{\"__metadata__\":{\"k\":1}}", 0), C::kInvalidArgument,
       {"__metadata__", "'k'"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    std::string path;
    absl::Status s = OpenBytes(c.bytes, &path);
    std::vector<std::string> parts = c.parts;
    parts.push_back(path);
    ExpectError(s, c.code, parts);
  }
}

TEST(SafetensorsFileTest, AcceptsEdgeCases) {
  // Empty header object, padding spaces, gaps between tensors, zero-size tensors anywhere.
  std::string path;
  EXPECT_TRUE(OpenBytes(MakeFile("{}      ", 0), &path).ok());
  const std::string header = "{" + Entry("a", "F32", "[2]", "[0,8]") + "," +
                             Entry("b", "BF16", "[0,5]", "[4,4]") + "," +
                             Entry("c", "F16", "[2]", "[12,16]") + "}  ";
  absl::Status s = OpenBytes(MakeFile(header, 20), &path);
  EXPECT_TRUE(s.ok()) << s;
}

TEST(SafetensorsFileTest, MissingFileIsNotFound) {
  const std::string path = FreshDir() + "/absent.safetensors";
  ExpectError(SafetensorsFile::Open(path).status(), absl::StatusCode::kNotFound, {path});
}

// ---- sharded checkpoints --------------------------------------------------------------------

// Writes `file` in `dir` with one F32 [2] tensor per name.
void WriteShard(const std::string& dir, const std::string& file,
                const std::vector<std::string>& names) {
  static const float kTwo[2] = {1.0f, 2.0f};
  std::vector<TensorToWrite> tensors;
  for (const std::string& n : names) {
    tensors.push_back({n, DType::kF32, {2}, {reinterpret_cast<const char*>(kTwo), 8}});
  }
  ASSERT_TRUE(WriteSafetensors(dir + "/" + file, tensors, {}).ok());
}

void WriteIndex(const std::string& dir, const std::string& weight_map) {
  WriteRaw(dir + "/model.safetensors.index.json",
           "{\"metadata\": {\"total_size\": 24}, \"weight_map\": " + weight_map + "}");
}

TEST(WeightSourceTest, ShardedIndex) {
  const std::string dir = FreshDir();
  WriteShard(dir, "s1.safetensors", {"a", "b"});
  WriteShard(dir, "s2.safetensors", {"c"});
  const std::string index = dir + "/model.safetensors.index.json";

  WriteIndex(dir, R"({"a": "s1.safetensors", "b": "s1.safetensors", "c": "s2.safetensors"})");
  auto ws = WeightSource::Open(dir);
  ASSERT_TRUE(ws.ok()) << ws.status();
  EXPECT_THAT((*ws)->Names(), ElementsAre("a", "b", "c"));
  float out[2];
  ASSERT_TRUE((*ws)->ReadF32("c", {2}, out).ok());
  EXPECT_EQ(out[1], 2.0f);

  WriteIndex(dir, R"({"a": "s1.safetensors", "c": "s3.safetensors"})");
  ExpectError(WeightSource::Open(dir).status(), absl::StatusCode::kNotFound,
              {index, "s3.safetensors"});

  WriteIndex(dir, R"({"a": "../s1.safetensors"})");
  ExpectError(WeightSource::Open(dir).status(), absl::StatusCode::kInvalidArgument,
              {index, "'a'", "../s1.safetensors"});
  WriteIndex(dir, R"({"a": "/etc/passwd"})");
  ExpectError(WeightSource::Open(dir).status(), absl::StatusCode::kInvalidArgument,
              {index, "/etc/passwd"});

  WriteIndex(dir, R"({"a": "s1.safetensors", "c": "s1.safetensors"})");
  ExpectError(WeightSource::Open(dir).status(), absl::StatusCode::kInvalidArgument,
              {index, "'c'", "s1.safetensors", "lacks it"});

  WriteShard(dir, "s3.safetensors", {"b", "d"});
  WriteIndex(dir, R"({"a": "s1.safetensors", "d": "s3.safetensors"})");
  ExpectError(WeightSource::Open(dir).status(), absl::StatusCode::kInvalidArgument,
              {index, "'b'", "two shards"});

  WriteIndex(dir, R"(["not", "a", "map"])");
  ExpectError(WeightSource::Open(dir).status(), absl::StatusCode::kInvalidArgument,
              {index, "weight_map"});
  WriteRaw(index, "{\"weight_map\": ");
  ExpectError(WeightSource::Open(dir).status(), absl::StatusCode::kInvalidArgument,
              {index, "malformed JSON"});

  // A corrupt shard reports the shard's own error, annotated with the index.
  WriteRaw(dir + "/s2.safetensors", "abc");
  WriteIndex(dir, R"({"c": "s2.safetensors"})");
  ExpectError(WeightSource::Open(dir).status(), absl::StatusCode::kDataLoss,
              {index, dir + "/s2.safetensors", "8-byte"});
}

TEST(WeightSourceTest, EmptyOrMissingDirectoryIsNotFound) {
  const std::string dir = FreshDir();
  ExpectError(WeightSource::Open(dir).status(), absl::StatusCode::kNotFound,
              {dir, "model.safetensors"});
  ExpectError(WeightSource::Open(dir + "/nope").status(), absl::StatusCode::kNotFound,
              {dir + "/nope"});
}

// ---- fuzz -----------------------------------------------------------------------------------

TEST(SafetensorsFileTest, RandomMutationsNeverCrash) {
  const std::string dir = FreshDir();
  const std::string path = dir + "/model.safetensors";
  const float f32[6] = {1, 2, 3, 4, 5, 6};
  const uint16_t half[4] = {0x3C00, 0x4000, 0x7C00, 0x0001};
  std::vector<TensorToWrite> tensors = {
      {"model.a", DType::kF32, {2, 3}, {reinterpret_cast<const char*>(f32), sizeof(f32)}},
      {"model.b", DType::kBF16, {4}, {reinterpret_cast<const char*>(half), sizeof(half)}},
      {"model.c", DType::kF16, {2, 2}, {reinterpret_cast<const char*>(half), sizeof(half)}},
  };
  ASSERT_TRUE(WriteSafetensors(path, tensors, {{"format", "pt"}}).ok());
  const std::string base = ReadRaw(path);
  const size_t header_end = 8 + static_cast<uint8_t>(base[0]) + 256 * static_cast<uint8_t>(base[1]);
  ASSERT_LT(header_end, base.size());

  std::mt19937 rng(20240611);
  static const char kInteresting[] = "{}[]\",:-0123456789eE. \\\x00\xff";
  const std::string interesting(kInteresting, sizeof(kInteresting) - 1);
  int ok = 0, failed = 0;
  for (int iter = 0; iter < 2000; ++iter) {
    std::string m = base;
    const int ops = 1 + static_cast<int>(rng() % 3);
    for (int op = 0; op < ops && !m.empty(); ++op) {
      // Mostly hit the length prefix and header, where the parsing happens.
      const size_t pos = rng() % 4 == 0 ? rng() % m.size() : rng() % std::min(m.size(), header_end);
      switch (rng() % 5) {
        case 0:
          m[pos] = static_cast<char>(m[pos] ^ (1u << (rng() % 8)));
          break;
        case 1:
          m.resize(rng() % m.size());
          break;
        case 2:
          m[pos] = interesting[rng() % interesting.size()];
          break;
        case 3:
          m[rng() % 8 % m.size()] = static_cast<char>(rng());
          break;
        default:
          if (rng() % 2) {
            m.erase(pos, 1);
          } else {
            m.insert(pos, 1, interesting[rng() % interesting.size()]);
          }
          break;
      }
    }
    WriteRaw(path, m);
    auto ws = WeightSource::Open(dir);
    if (!ws.ok()) {
      ++failed;
      EXPECT_FALSE(ws.status().message().empty());
      continue;
    }
    ++ok;
    for (const std::string& name : (*ws)->Names()) {
      const TensorInfo* t = (*ws)->Find(name);
      ASSERT_EQ(t->nbytes, static_cast<size_t>(t->numel()) * DTypeSize(t->dtype));
      std::vector<float> out(static_cast<size_t>(t->numel()));
      ASSERT_TRUE((*ws)->ReadF32(name, t->shape, out.data()).ok());
    }
  }
  EXPECT_EQ(ok + failed, 2000);
  EXPECT_GT(failed, 500);
  EXPECT_GT(ok, 20);
}

}  // namespace
}  // namespace mneme::model
