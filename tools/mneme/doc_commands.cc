// mneme doc add --session NAME (FILE... | --jsonl FILE | --stdin)
// mneme doc rm --session NAME ORDINAL
// mneme doc get --session NAME ORDINAL
// mneme doc list --session NAME [--deleted]
#include <deque>
#include <iostream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "common/file_util.h"
#include "common/json_util.h"
#include "common/status.h"
#include "tools/mneme/cli.h"
#include "tools/mneme/session_loader.h"

namespace mneme::cli {
namespace {

struct InputDoc {
  std::string text, source;
  std::vector<std::string> tags;
};

// Reads documents from the sources the flags name: each FILE whole, each JSONL line
// ({"text", "source"?, "tags"?}), or each stdin line.
absl::StatusOr<std::vector<InputDoc>> ReadInputs(const Args& args) {
  const int sources = (args.positionals().empty() ? 0 : 1) + args.Has("jsonl") + args.Has("stdin");
  if (sources != 1) return UsageError("give documents as FILE..., --jsonl FILE or --stdin (one of them)");
  std::vector<InputDoc> docs;
  if (args.Has("jsonl")) {
    const std::string path = *args.Get("jsonl");
    MNEME_ASSIGN_OR_RETURN(std::string content, ReadFileToString(path, size_t{16} << 30));
    std::istringstream in(content);
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
      if (line.empty()) continue;
      const std::string where = absl::StrFormat("%s:%d", path, n);
      MNEME_ASSIGN_OR_RETURN(nlohmann::json j, ParseJson(line, where));
      if (!j.is_object() || !j.contains("text") || !j["text"].is_string()) {
        return absl::InvalidArgumentError(where + ": expected an object with a string \"text\"");
      }
      InputDoc d{j["text"].get<std::string>(), j.value("source", std::string()), {}};
      if (j.contains("tags") && j["tags"].is_array()) {
        for (const auto& t : j["tags"]) {
          if (t.is_string()) d.tags.push_back(t.get<std::string>());
        }
      }
      docs.push_back(std::move(d));
    }
  } else if (args.Has("stdin")) {
    std::string line;
    while (std::getline(std::cin, line)) {
      if (!line.empty()) docs.push_back({line, "stdin", {}});
    }
  } else {
    for (const std::string& path : args.positionals()) {
      MNEME_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
      docs.push_back({std::move(text), path, {}});
    }
  }
  return docs;
}

class DocAddCommand final : public Command {
 public:
  std::string Name() const override { return "doc add"; }
  std::string Help() const override {
    return "Encode documents into a session's memory; one line per durable document.";
  }
  std::vector<FlagSpec> Flags() const override {
    return {{"session", true, "session name"},
            {"jsonl", true, "file of {\"text\", \"source\", \"tags\"} lines"},
            {"stdin", false, "one document per stdin line"}};
  }
  absl::Status Run(const Args& args, Context& ctx) override {
    MNEME_ASSIGN_OR_RETURN(std::string name, args.Required("session"));
    MNEME_ASSIGN_OR_RETURN(std::vector<InputDoc> docs, ReadInputs(args));
    MNEME_ASSIGN_OR_RETURN(auto store, OpenStore(ctx, Access::kWrite));
    MNEME_ASSIGN_OR_RETURN(auto session, LoadSession(ctx, store.get(), name));
    Progress progress(ctx, "encoding", static_cast<int64_t>(docs.size()));
    int64_t tokens = 0;
    // Parts of consecutive inputs are appended in batches (encoded several per forward); each
    // line is printed once its document is durable.
    constexpr size_t kBatch = 32;
    struct Queued {
      size_t input;        // index into docs
      int64_t first = -1;  // the input's first ordinal when it has several parts, else -1
    };
    std::vector<DocumentInput> batch;
    std::vector<Queued> queued;
    std::deque<std::string> texts;  // what batch's string_views point at (deque: stable addresses)
    auto flush = [&]() -> absl::Status {
      std::vector<StoredAppend> done;
      const absl::Status st = session->AppendBatch(batch, &done);
      for (size_t k = 0; k < done.size(); ++k) {
        const StoredAppend& a = done[k];
        const InputDoc& in = docs[queued[k].input];
        tokens += a.doc.tokens;
        progress.Clear();
        if (ctx.format == Format::kJson) {
          nlohmann::json j = {{"ordinal", a.doc.ordinal}, {"id", absl::StrFormat("%016x", a.doc.id)},
                              {"tokens", a.doc.tokens},   {"chunks", a.doc.chunks}};
          if (queued[k].first >= 0) j["part_of"] = queued[k].first;
          if (!a.evicted.empty()) j["evicted"] = a.evicted;
          *ctx.out << DumpJson(j) << "\n" << std::flush;
        } else if (!ctx.quiet) {
          *ctx.out << "[" << a.doc.ordinal << "] " << a.doc.tokens << " tokens  " << in.source;
          if (!a.evicted.empty()) *ctx.out << "  (retention evicted " << a.evicted.size() << ")";
          *ctx.out << "\n" << std::flush;
        }
      }
      if (!st.ok()) {
        const size_t i = queued[std::min(done.size(), queued.size() - 1)].input;
        return Annotate(st, absl::StrFormat("document %d (%s)", i + 1, docs[i].source));
      }
      if (!queued.empty()) progress.Update(static_cast<int64_t>(queued.back().input + 1), tokens);
      batch.clear();
      queued.clear();
      texts.clear();
      return absl::OkStatus();
    };
    for (size_t i = 0; i < docs.size(); ++i) {
      const InputDoc& in = docs[i];
      const std::string where = absl::StrFormat("document %d (%s)", i + 1, in.source);
      // A bad input stops the command after everything queued before it is stored, as when
      // documents went one by one.
      absl::StatusOr<std::vector<std::string>> parts =
          in.text.empty() ? absl::InvalidArgumentError("is empty") : session->SplitForPositions(in.text);
      if (!parts.ok()) {
        if (!batch.empty()) MNEME_RETURN_IF_ERROR(flush());
        return Annotate(parts.status(), where);
      }
      // This process holds the store for writing, so the ordinals the batch will get are known.
      const int64_t first = parts->size() > 1 ? session->next_ordinal() + static_cast<int64_t>(batch.size()) : -1;
      for (size_t p = 0; p < parts->size(); ++p) {
        texts.push_back(std::move((*parts)[p]));
        batch.push_back(DocumentInput{texts.back(), in.source, in.tags, p > 0 ? first : -1});
        queued.push_back({i, first});
        if (batch.size() >= kBatch) MNEME_RETURN_IF_ERROR(flush());
      }
    }
    if (!batch.empty()) MNEME_RETURN_IF_ERROR(flush());
    progress.Finish();
    return absl::OkStatus();
  }
};

absl::StatusOr<int64_t> OneOrdinal(const Args& args, const std::string& cmd) {
  int64_t o = -1;
  if (args.positionals().size() != 1 || !absl::SimpleAtoi(args.positionals()[0], &o) || o < 0) {
    return UsageError(cmd + " takes exactly one ORDINAL (an integer >= 0)");
  }
  return o;
}

nlohmann::json DocJson(const memory::DocumentInfo& d) {
  nlohmann::json j = {{"ordinal", d.ordinal},
                      {"id", absl::StrFormat("%016x", d.id)},
                      {"tokens", d.tokens},
                      {"chunks", d.chunks},
                      {"source", d.source},
                      {"tags", d.tags},
                      {"created_unix_ms", d.created_unix_ms},
                      {"deleted", d.deleted},
                      {"global_ordinal", d.effective_ordinal()},
                      {"codec", memory::SegmentCodecName(d.codec)},
                      {"text_bytes", d.text_bytes},
                      {"segment_bytes", d.segment_bytes}};
  if (d.part_of >= 0) j["part_of"] = d.part_of;
  if (d.deleted) j["deleted_unix_ms"] = d.deleted_unix_ms;
  return j;
}

class DocRmCommand final : public Command {
 public:
  std::string Name() const override { return "doc rm"; }
  std::string Help() const override { return "Delete a document (a tombstone: it stops routing at once)."; }
  std::vector<FlagSpec> Flags() const override { return {{"session", true, "session name"}}; }
  absl::Status Run(const Args& args, Context& ctx) override {
    MNEME_ASSIGN_OR_RETURN(std::string name, args.Required("session"));
    MNEME_ASSIGN_OR_RETURN(int64_t o, OneOrdinal(args, "doc rm"));
    MNEME_ASSIGN_OR_RETURN(auto store, OpenStore(ctx, Access::kWrite));
    if (ctx.cluster != nullptr) {  // the document lives on its owner's shard
      MNEME_ASSIGN_OR_RETURN(auto session, LoadSession(ctx, store.get(), name));
      MNEME_RETURN_IF_ERROR(session->Delete(o));
    } else {
      MNEME_ASSIGN_OR_RETURN(memory::SessionInfo info, store->GetSession(name));
      MNEME_RETURN_IF_ERROR(store->Delete(info, o));
    }
    if (ctx.format == Format::kJson) {
      *ctx.out << DumpJson({{"deleted", o}}) << "\n";
    } else if (!ctx.quiet) {
      *ctx.out << "deleted document " << o << "\n";
    }
    return absl::OkStatus();
  }
};

class DocGetCommand final : public Command {
 public:
  std::string Name() const override { return "doc get"; }
  std::string Help() const override { return "Show a document's metadata and full text."; }
  std::vector<FlagSpec> Flags() const override { return {{"session", true, "session name"}}; }
  absl::Status Run(const Args& args, Context& ctx) override {
    MNEME_ASSIGN_OR_RETURN(std::string name, args.Required("session"));
    MNEME_ASSIGN_OR_RETURN(int64_t o, OneOrdinal(args, "doc get"));
    MNEME_ASSIGN_OR_RETURN(auto store, OpenStore(ctx, Access::kRead));
    MNEME_ASSIGN_OR_RETURN(memory::SessionInfo info, store->GetSession(name));
    absl::StatusOr<memory::DocumentInfo> d = store->GetDocument(info.id, o);
    if (absl::IsNotFound(d.status())) {
      return absl::NotFoundError(absl::StrFormat("session '%s' has no document %d", name, o));
    }
    MNEME_RETURN_IF_ERROR(d.status());
    std::string text;
    if (!d->deleted) {
      MNEME_ASSIGN_OR_RETURN(text, store->GetText(info.id, *d));
    }
    nlohmann::json j = DocJson(*d);
    if (ctx.format == Format::kJson) {
      j["text"] = text;
      *ctx.out << DumpJson(j) << "\n";
    } else {
      *ctx.out << j.dump(2) << "\n" << text << (text.ends_with("\n") ? "" : "\n");
    }
    return absl::OkStatus();
  }
};

class DocListCommand final : public Command {
 public:
  std::string Name() const override { return "doc list"; }
  std::string Help() const override { return "List a session's documents (live ones; --deleted adds tombstones)."; }
  std::vector<FlagSpec> Flags() const override {
    return {{"session", true, "session name"}, {"deleted", false, "include deleted documents"}};
  }
  absl::Status Run(const Args& args, Context& ctx) override {
    MNEME_ASSIGN_OR_RETURN(std::string name, args.Required("session"));
    MNEME_ASSIGN_OR_RETURN(auto store, OpenStore(ctx, Access::kRead));
    MNEME_ASSIGN_OR_RETURN(memory::SessionInfo info, store->GetSession(name));
    const bool deleted = args.Has("deleted");
    return store->ScanDocuments(info.id, 0, [&](const memory::DocumentInfo& d) {
      if (d.deleted && !deleted) return absl::OkStatus();
      if (ctx.format == Format::kJson) {
        *ctx.out << DumpJson(DocJson(d)) << "\n";
      } else {
        *ctx.out << "[" << d.ordinal << "] " << (d.deleted ? "deleted " : "") << d.tokens << " tokens  " << d.source
                 << "\n";
      }
      return absl::OkStatus();
    });
  }
};

}  // namespace

std::unique_ptr<Command> NewDocAddCommand() { return std::make_unique<DocAddCommand>(); }
std::unique_ptr<Command> NewDocRmCommand() { return std::make_unique<DocRmCommand>(); }
std::unique_ptr<Command> NewDocGetCommand() { return std::make_unique<DocGetCommand>(); }
std::unique_ptr<Command> NewDocListCommand() { return std::make_unique<DocListCommand>(); }

}  // namespace mneme::cli
