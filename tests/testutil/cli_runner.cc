#include "tests/testutil/cli_runner.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "common/file_util.h"
#include "common/json_util.h"
#include "gtest/gtest.h"

namespace mneme::testing {

std::string Quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

CliResult RunMneme(const std::string& args, const std::string& scratch_dir,
                   const std::string& stdin_text) {
  const char* bin_dir = std::getenv("MNEME_BINARY_DIR");
  const std::string bin = std::string(bin_dir ? bin_dir : "build") + "/tools/mneme";
  return RunShell(Quote(bin) + " " + args, scratch_dir, stdin_text);
}

CliResult RunShell(const std::string& command, const std::string& scratch_dir, const std::string& stdin_text) {
  const std::string tag = std::to_string(::getpid());
  const std::string err_file = scratch_dir + "/cli_stderr_" + tag;
  const std::string in_file = scratch_dir + "/cli_stdin_" + tag;
  EXPECT_TRUE(WriteFileAtomic(in_file, stdin_text).ok());
  const std::string cmd = command + " 2>" + Quote(err_file) + " <" + Quote(in_file);
  CliResult r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) {
    ADD_FAILURE() << "popen failed for " << cmd;
    return {-1, "", ""};
  }
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
  const int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.err = ReadFileToString(err_file).value_or("");
  return r;
}

std::vector<nlohmann::json> JsonLines(const std::string& text) {
  std::vector<nlohmann::json> out;
  size_t at = 0;
  while (at < text.size()) {
    size_t nl = text.find('\n', at);
    if (nl == std::string::npos) nl = text.size();
    if (nl > at) {
      auto j = ParseJson(text.substr(at, nl - at), "cli output line");
      EXPECT_TRUE(j.ok()) << j.status() << "\n" << text;
      if (j.ok()) out.push_back(*j);
    }
    at = nl + 1;
  }
  return out;
}

}  // namespace mneme::testing
