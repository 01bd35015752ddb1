#include "memory/session_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>

#include "absl/strings/str_format.h"
#include "common/file_util.h"
#include "common/json_util.h"
#include "common/status.h"

namespace mneme::memory {
namespace {

absl::Status CheckName(const std::string& name) {
  const bool ok = !name.empty() && name.size() <= 64 && name[0] != '.' &&
                  std::all_of(name.begin(), name.end(), [](char c) {
                    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
                  });
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrFormat(
      "bad session name '%s': use 1-64 letters, digits, '.', '_' or '-', not starting with '.'", name));
}

std::string SessionPath(const std::string& data_dir, const std::string& name) {
  return data_dir + "/sessions/" + name;
}

std::string ToJson(const SessionManifest& m) {
  nlohmann::json j = {{"format", "mneme-session/1"}, {"name", m.name}, {"model_dir", m.model_dir},
                      {"fingerprint", m.fingerprint}, {"created_unix", m.created_unix}};
  if (m.top_k) j["top_k"] = *m.top_k;
  if (m.pooling) j["pooling"] = *m.pooling;
  if (m.routed_layers) j["routed_layers"] = *m.routed_layers;
  return DumpJson(j, 2);
}

absl::StatusOr<SessionManifest> FromJson(const std::string& path) {
  MNEME_ASSIGN_OR_RETURN(nlohmann::json j, ReadJsonFile(path));
  SessionManifest m;
  try {
    m.name = j.at("name").get<std::string>();
    m.model_dir = j.at("model_dir").get<std::string>();
    m.fingerprint = j.at("fingerprint").get<std::string>();
    m.created_unix = j.at("created_unix").get<int64_t>();
    if (j.contains("top_k")) m.top_k = j["top_k"].get<int>();
    if (j.contains("pooling")) m.pooling = j["pooling"].get<int>();
    if (j.contains("routed_layers")) m.routed_layers = j["routed_layers"].get<std::vector<int>>();
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrFormat("%s: bad session manifest: %s", path, e.what()));
  }
  return m;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SessionDir>> SessionDir::Create(const std::string& data_dir,
                                                               const SessionManifest& m) {
  MNEME_RETURN_IF_ERROR(CheckName(m.name));
  const std::string dir = SessionPath(data_dir, m.name);
  std::error_code ec;
  std::filesystem::create_directories(data_dir + "/sessions", ec);
  if (ec) return absl::InvalidArgumentError(absl::StrFormat("%s: cannot create: %s", data_dir, ec.message()));
  if (!std::filesystem::create_directory(dir, ec)) {
    if (ec) return absl::InvalidArgumentError(absl::StrFormat("%s: cannot create: %s", dir, ec.message()));
    return absl::AlreadyExistsError(absl::StrFormat("session '%s' already exists in %s", m.name, data_dir));
  }
  MNEME_RETURN_IF_ERROR(WriteFileAtomic(dir + "/session.json", ToJson(m)));
  return Open(data_dir, m.name);
}

absl::StatusOr<std::unique_ptr<SessionDir>> SessionDir::Open(const std::string& data_dir,
                                                             const std::string& name) {
  MNEME_RETURN_IF_ERROR(CheckName(name));
  const std::string dir = SessionPath(data_dir, name);
  if (!std::filesystem::exists(dir + "/session.json")) {
    return absl::NotFoundError(absl::StrFormat("no session '%s' in %s", name, data_dir));
  }
  std::unique_ptr<SessionDir> s(new SessionDir());
  s->lock_fd_ = ::open((dir + "/LOCK").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (s->lock_fd_ < 0) return ErrnoToStatus(errno, "open", dir + "/LOCK");
  if (::flock(s->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return absl::FailedPreconditionError(
        absl::StrFormat("session '%s' is in use by another mneme process", name));
  }
  MNEME_ASSIGN_OR_RETURN(s->manifest_, FromJson(dir + "/session.json"));
  MNEME_ASSIGN_OR_RETURN(s->log_, DocLog::Open(dir + "/docs.jsonl"));
  return s;
}

absl::StatusOr<std::vector<std::string>> SessionDir::List(const std::string& data_dir) {
  std::vector<std::string> names;
  std::error_code ec;
  const std::string root = data_dir + "/sessions";
  if (!std::filesystem::exists(root)) return names;
  for (const auto& e : std::filesystem::directory_iterator(root, ec)) {
    if (std::filesystem::exists(e.path() / "session.json")) names.push_back(e.path().filename());
  }
  if (ec) return absl::InternalError(absl::StrFormat("%s: %s", root, ec.message()));
  std::sort(names.begin(), names.end());
  return names;
}

SessionDir::~SessionDir() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

}  // namespace mneme::memory
