// A seeded synthetic corpus of legal contracts, for demos, tests and benchmarks.
//
// The corpus mixes master agreements (services, supply, software licence), amendments that change
// one term of an earlier master agreement, non-disclosure agreements and purchase orders. Output
// depends only on the options: the generator uses std::mt19937_64's raw output (specified by the
// C++ standard) with its own integer mapping, and no floating point, so a seed gives byte-identical
// documents on every platform.
//
// Key facts sit in fixed sentences (e.g. "Invoices are payable Net 45 from the date of receipt."),
// which is how MakeQuestions finds them again from the text alone. Amendments name the agreement
// they change only by title and number ("amends Supply Agreement No. SUP-0003"), never by its
// parties, so "the current payment term of the supply agreement between A and B" needs two hops.
#ifndef MNEME_TOOLS_GEN_CONTRACT_CORPUS_H_
#define MNEME_TOOLS_GEN_CONTRACT_CORPUS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace mneme::gen {

struct ContractCorpusOptions {
  int num_documents = 100;  // 1 .. 10'000'000
  uint64_t seed = 0;
  // Bounds on each document's length in words (runs of non-whitespace): 5 <= min_words <=
  // max_words <= 1'000'000. Each document's length is drawn between the larger of min_words and
  // its essential clauses (about 70 to 125 words) and max_words, and reached with boilerplate
  // clauses, which repeat only beyond about 420 words. A document whose essential clauses exceed
  // max_words is cut at max_words words, so some of its facts are then missing from the text.
  int min_words = 40;
  int max_words = 400;
};

struct GeneratedDocument {
  std::string text;               // UTF-8; plain ASCII apart from a few accented company names
  std::string source;             // "contracts/MSA-0007.txt"; unique within a corpus
  std::vector<std::string> tags;  // kind first: "master", "amendment", "nda", "purchase-order"
};

// Generates `options.num_documents` documents in corpus order (amendments always follow the
// agreement they amend). Returns InvalidArgument for options outside the documented bounds.
absl::StatusOr<std::vector<GeneratedDocument>> GenerateContractCorpus(
    const ContractCorpusOptions& options);

// One JSON object per line, in order: {"text": ..., "source": ..., "tags": [...]}\n.
std::string ToJsonl(const std::vector<GeneratedDocument>& docs);

// A question answerable from the corpus. `answer_docs` are 0-based indices into the documents
// (ascending) of every document needed; `answer` occurs verbatim in the last of them. Multi-hop
// questions ("What is the current payment term of ...?") list the master agreement first and the
// latest amendment of that term last.
struct CorpusQuestion {
  std::string question;
  std::vector<int> answer_docs;
  std::string answer;
};

// Up to `count` distinct questions about `docs` (fewer if the corpus holds fewer facts; none for
// count <= 0), found by re-reading the documents' text, so it also works on a corpus read back
// from JSONL. Categories take turns: multi-hop, master agreement, NDA, purchase order facts.
// Documents are named by their parties where that is unambiguous, else by number. If some
// amendment was cut so that its change cannot be read, no amendable term is asked about.
// Deterministic for (docs, count, seed).
std::vector<CorpusQuestion> MakeQuestions(const std::vector<GeneratedDocument>& docs, int count,
                                          uint64_t seed);

}  // namespace mneme::gen

#endif  // MNEME_TOOLS_GEN_CONTRACT_CORPUS_H_
