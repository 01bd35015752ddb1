#include "memory/doc_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>

#include "absl/strings/str_format.h"
#include "common/file_util.h"
#include "common/json_util.h"
#include "common/status.h"

namespace mneme::memory {
namespace {

absl::StatusOr<DocRecord> ParseRecord(const std::string& line, const std::string& where) {
  MNEME_ASSIGN_OR_RETURN(nlohmann::json j, ParseJson(line, where));
  DocRecord r;
  try {
    const std::string op = j.at("op").get<std::string>();
    r.ordinal = j.at("ordinal").get<int64_t>();
    if (op == "delete") {
      r.op = DocRecord::Op::kDelete;
      return r;
    }
    if (op != "add") return absl::DataLossError(absl::StrFormat("%s: unknown op '%s'", where, op));
    r.text = j.at("text").get<std::string>();
    r.id = std::stoull(j.at("id").get<std::string>(), nullptr, 16);
    if (j.contains("source")) r.source = j["source"].get<std::string>();
    if (j.contains("tags")) r.tags = j["tags"].get<std::vector<std::string>>();
    if (j.contains("part_of")) r.part_of = j["part_of"].get<int64_t>();
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrFormat("%s: bad record: %s", where, e.what()));
  }
  return r;
}

std::string Serialize(const DocRecord& r) {
  nlohmann::json j;
  if (r.op == DocRecord::Op::kDelete) {
    j = {{"op", "delete"}, {"ordinal", r.ordinal}};
  } else {
    j = {{"op", "add"},          {"ordinal", r.ordinal}, {"id", absl::StrFormat("%016x", r.id)},
         {"text", r.text},       {"source", r.source},   {"tags", r.tags}};
    if (r.part_of >= 0) j["part_of"] = r.part_of;
  }
  return DumpJson(j) + "\n";
}

}  // namespace

absl::StatusOr<std::unique_ptr<DocLog>> DocLog::Open(const std::string& path) {
  std::string content;
  absl::StatusOr<std::string> existing = ReadFileToString(path, size_t{64} << 30);
  if (existing.ok()) {
    content = std::move(*existing);
  } else if (!absl::IsNotFound(existing.status())) {
    return existing.status();
  }
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoToStatus(errno, "open", path);
  std::unique_ptr<DocLog> log(new DocLog(path, fd));
  size_t at = 0, line_no = 0, valid_end = 0;
  while (at < content.size()) {
    const size_t nl = content.find('\n', at);
    ++line_no;
    const bool last = nl == std::string::npos || nl + 1 == content.size();
    const std::string line = content.substr(at, nl == std::string::npos ? std::string::npos : nl - at);
    const std::string where = absl::StrFormat("%s:%d", path, line_no);
    absl::StatusOr<DocRecord> r = nl == std::string::npos
                                      ? absl::DataLossError(where + ": torn record")
                                      : ParseRecord(line, where);
    if (!r.ok()) {
      if (last) break;  // a crash mid-append: the record was never acknowledged
      return absl::DataLossError(std::string(r.status().message()));
    }
    if (r->op == DocRecord::Op::kAdd && r->ordinal != log->next_ordinal_) {
      return absl::DataLossError(absl::StrFormat("%s: add of ordinal %d, expected %d", where,
                                                 r->ordinal, log->next_ordinal_));
    }
    if (r->op == DocRecord::Op::kAdd) ++log->next_ordinal_;
    log->records_.push_back(std::move(*r));
    valid_end = nl + 1;
    at = nl + 1;
  }
  // Cut a torn tail so the next record starts on a fresh line.
  if (valid_end < content.size() && ::ftruncate(fd, static_cast<off_t>(valid_end)) != 0) {
    return ErrnoToStatus(errno, "truncate torn tail", path);
  }
  if (::lseek(fd, static_cast<off_t>(valid_end), SEEK_SET) < 0) return ErrnoToStatus(errno, "seek", path);
  log->end_ = static_cast<int64_t>(valid_end);
  return log;
}

DocLog::~DocLog() { ::close(fd_); }

absl::Status DocLog::Append(const DocRecord& r) {
  if (r.op == DocRecord::Op::kAdd && r.ordinal != next_ordinal_) {
    return absl::InvalidArgumentError(absl::StrFormat("doc log: add of ordinal %d, expected %d",
                                                      r.ordinal, next_ordinal_));
  }
  const std::string line = Serialize(r);
  size_t done = 0;
  while (done < line.size()) {
    ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      // Roll a partial record back so the log stays a sequence of whole lines.
      if (::ftruncate(fd_, static_cast<off_t>(end_)) == 0) ::lseek(fd_, static_cast<off_t>(end_), SEEK_SET);
      return ErrnoToStatus(err, "write", path_);
    }
    done += static_cast<size_t>(n);
  }
  if (::fdatasync(fd_) != 0) return ErrnoToStatus(errno, "fdatasync", path_);
  end_ += static_cast<int64_t>(line.size());
  if (r.op == DocRecord::Op::kAdd) ++next_ordinal_;
  records_.push_back(r);
  return absl::OkStatus();
}

}  // namespace mneme::memory
