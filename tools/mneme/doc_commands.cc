// mneme doc add --session NAME (FILE... | --jsonl FILE | --stdin)
// mneme doc rm --session NAME ORDINAL
#include <iostream>
#include <set>
#include <sstream>

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
    MNEME_ASSIGN_OR_RETURN(LoadedSession ls, LoadSession(ctx, name, /*replay=*/false));
    Progress progress(ctx, "encoding", static_cast<int64_t>(docs.size()));
    int64_t tokens = 0, added = 0;
    for (size_t i = 0; i < docs.size(); ++i) {
      const InputDoc& in = docs[i];
      if (in.text.empty()) {
        return absl::InvalidArgumentError(absl::StrFormat("document %d (%s) is empty", i + 1, in.source));
      }
      absl::StatusOr<std::vector<std::string>> parts = ls.session->SplitForPositions(in.text);
      if (!parts.ok()) {
        return Annotate(parts.status(), absl::StrFormat("document %d (%s)", i + 1, in.source));
      }
      int64_t first = -1;
      for (const std::string& part : *parts) {
        absl::StatusOr<AppendedDocument> a = ls.session->Append(part);
        if (!a.ok()) return Annotate(a.status(), absl::StrFormat("document %d (%s)", i + 1, in.source));
        memory::DocRecord r;
        r.ordinal = a->ordinal;
        r.id = a->id;
        r.text = part;
        r.source = in.source;
        r.tags = in.tags;
        r.part_of = parts->size() > 1 ? (first < 0 ? a->ordinal : first) : -1;
        if (first < 0) first = a->ordinal;
        MNEME_RETURN_IF_ERROR(ls.dir->log()->Append(r));  // durable before it is reported
        tokens += a->tokens;
        progress.Clear();
        ++added;
        if (ctx.format == Format::kJson) {
          nlohmann::json j = {{"ordinal", a->ordinal}, {"id", absl::StrFormat("%016x", a->id)},
                              {"tokens", a->tokens},   {"chunks", a->chunks}};
          if (r.part_of >= 0) j["part_of"] = r.part_of;
          *ctx.out << DumpJson(j) << "\n" << std::flush;
        } else if (!ctx.quiet) {
          *ctx.out << "[" << a->ordinal << "] " << a->tokens << " tokens  " << in.source << "\n" << std::flush;
        }
      }
      progress.Update(static_cast<int64_t>(i + 1), tokens);
    }
    progress.Finish();
    return absl::OkStatus();
  }
};

class DocRmCommand final : public Command {
 public:
  std::string Name() const override { return "doc rm"; }
  std::string Help() const override { return "Delete a document (a tombstone: it stops routing at once)."; }
  std::vector<FlagSpec> Flags() const override { return {{"session", true, "session name"}}; }
  absl::Status Run(const Args& args, Context& ctx) override {
    MNEME_ASSIGN_OR_RETURN(std::string name, args.Required("session"));
    if (args.positionals().size() != 1) return UsageError("doc rm takes exactly one ORDINAL");
    MNEME_ASSIGN_OR_RETURN(std::vector<int32_t> ord, ParseIdList(args.positionals()[0]));
    MNEME_ASSIGN_OR_RETURN(auto dir, memory::SessionDir::Open(ctx.data_dir, name));
    std::set<int64_t> deleted;
    for (const auto& r : dir->log()->records()) {
      if (r.op == memory::DocRecord::Op::kDelete) deleted.insert(r.ordinal);
    }
    const int64_t o = ord[0];
    if (o >= dir->log()->next_ordinal()) {
      return absl::NotFoundError(absl::StrFormat("session '%s' has no document %d", name, o));
    }
    if (deleted.count(o)) return absl::FailedPreconditionError(absl::StrFormat("document %d is already deleted", o));
    memory::DocRecord r;
    r.op = memory::DocRecord::Op::kDelete;
    r.ordinal = o;
    MNEME_RETURN_IF_ERROR(dir->log()->Append(r));
    if (ctx.format == Format::kJson) {
      *ctx.out << DumpJson({{"deleted", o}}) << "\n";
    } else if (!ctx.quiet) {
      *ctx.out << "deleted document " << o << "\n";
    }
    return absl::OkStatus();
  }
};

}  // namespace

std::unique_ptr<Command> NewDocAddCommand() { return std::make_unique<DocAddCommand>(); }
std::unique_ptr<Command> NewDocRmCommand() { return std::make_unique<DocRmCommand>(); }

}  // namespace mneme::cli
