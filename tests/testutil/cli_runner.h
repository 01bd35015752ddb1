// Runs the `mneme` binary for integration tests and captures exit code, stdout and stderr.
#ifndef MNEME_TESTS_TESTUTIL_CLI_RUNNER_H_
#define MNEME_TESTS_TESTUTIL_CLI_RUNNER_H_

#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace mneme::testing {

struct CliResult {
  int exit_code;
  std::string out, err;
};

// Single-quotes `s` for /bin/sh.
std::string Quote(const std::string& s);

// Runs `$MNEME_BINARY_DIR/tools/mneme <args>` (build/ when unset) through /bin/sh with
// `stdin_text` on standard input; `scratch_dir` holds the captured stderr and stdin files.
CliResult RunMneme(const std::string& args, const std::string& scratch_dir,
                   const std::string& stdin_text = "");

// Runs the shell command `cmd` (no redirections of its own) with `stdin_text` on standard input,
// capturing stdout, stderr and the exit code; `scratch_dir` holds the stderr and stdin files.
CliResult RunShell(const std::string& cmd, const std::string& scratch_dir, const std::string& stdin_text = "");

// Parses each non-empty line of `text` as JSON (a test failure for a malformed line).
std::vector<nlohmann::json> JsonLines(const std::string& text);

}  // namespace mneme::testing

#endif  // MNEME_TESTS_TESTUTIL_CLI_RUNNER_H_
