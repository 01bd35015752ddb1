#include "tools/gen/contract_corpus.h"

#include <algorithm>
#include <array>
#include <map>
#include <numeric>
#include <optional>
#include <random>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "common/json_util.h"

namespace mneme::gen {
namespace {

// Raw std::mt19937_64 output (fixed by the standard) mapped to integers by our own code. Callers
// make at most one draw per full expression (argument evaluation order is unspecified), except
// in braced lists, which are evaluated left to right.
class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}
  // Uniform in [0, n) for n >= 1, by rejection sampling (no modulo bias).
  uint64_t Below(uint64_t n) {
    const uint64_t threshold = (0 - n) % n;  // 2^64 mod n
    uint64_t x = static_cast<uint64_t>(engine_());
    while (x < threshold) x = static_cast<uint64_t>(engine_());
    return x % n;
  }
  int Int(int lo, int hi) {  // uniform in [lo, hi]; lo <= hi
    return lo + static_cast<int>(Below(static_cast<uint64_t>(int64_t{hi} - lo + 1)));
  }
  // A uniform index into an array.
  template <typename T, size_t N>
  int Index(const T (&)[N]) {
    return static_cast<int>(Below(N));
  }

 private:
  std::mt19937_64 engine_;
};

// Vocabulary; the tables are laid out by hand.
// clang-format off

constexpr std::pair<const char*, const char*> kCompanies[] = {  // name, city of main site
    {"Acme Corp", "Chicago"}, {"Borealis Ltd", "Manchester"}, {"Société Générale", "Paris"},
    {"Müller GmbH", "Stuttgart"}, {"Peña Hermanos SA", "Valencia"}, {"Nordwind AB", "Malmö"},
    {"Crestline Logistics Inc", "Denver"}, {"Bluefin Analytics Ltd", "Dublin"},
    {"Granite Peak Holdings", "Salt Lake City"}, {"Oakridge Medical Supplies", "Nashville"},
    {"Silverline Software BV", "Amsterdam"}, {"Redwood Manufacturing Co", "Portland"},
    {"Kestrel Energy plc", "Aberdeen"}, {"Lumen Labs Inc", "Boston"},
    {"Meridian Foods SpA", "Milan"}, {"Northgate Retail Group", "Leeds"},
    {"Pioneer Freight Ltd", "Felixstowe"}, {"Quantum Ledger Systems", "Toronto"},
    {"Summit Healthcare LLC", "Phoenix"}, {"Tidewater Marine Services", "Rotterdam"},
    {"Umbra Security GmbH", "Berlin"}, {"Westbrook Consulting LLP", "London"},
    {"Zenith Telecom SA", "Lyon"}, {"Delta Pharma AS", "Oslo"}};
constexpr int kNumCompanies = static_cast<int>(std::size(kCompanies));
constexpr const char* kLaws[] = {"England and Wales", "the State of New York",
    "the State of Delaware", "Germany", "France", "Switzerland", "Sweden", "Ireland",
    "the Netherlands", "the Province of Ontario", "Singapore"};
constexpr int kNumLaws = static_cast<int>(std::size(kLaws));
constexpr const char* kCurrencies[] = {"USD", "EUR", "GBP", "CHF", "SEK"};
constexpr int kPaymentDays[] = {15, 30, 45, 60, 90}, kNoticeDays[] = {30, 60, 90, 120, 180};
constexpr const char* kNdaDurations[] = {"18 months", "2 years", "3 years", "5 years", "7 years"};
constexpr const char* kMonths[] = {"January", "February", "March", "April", "May", "June", "July",
    "August", "September", "October", "November", "December"};
constexpr int kFirstDay = 16436, kDaySpan = 3653;  // dates from 1 January 2015 to 2024's end

struct MasterKind { const char *title, *code, *tag, *role_a, *role_b, *scope;  // role_b pays
                    std::array<const char*, 4> objects; };  // {X} in scope: one of the objects
constexpr MasterKind kKinds[] = {
    {"Master Services Agreement", "MSA", "services", "Supplier", "Customer",
     "The Supplier shall provide {X} services to the Customer under statements of work.",
     {"IT support", "logistics", "facilities management", "payroll processing"}},
    {"Supply Agreement", "SUP", "supply", "Supplier", "Customer",
     "The Supplier shall supply {X} to the Customer against purchase orders.",
     {"industrial valves", "packaging materials", "laboratory reagents", "steel fasteners"}},
    {"Software Licence Agreement", "LIC", "licence", "Licensor", "Licensee",
     "The Licensor grants the Licensee a non-exclusive licence to use the {X} software.",
     {"LedgerPro", "RouteMaster", "DocuVault", "SignalView"}}};
constexpr int kNumKinds = static_cast<int>(std::size(kKinds));
constexpr int kSupply = 1;  // index of the kind purchase orders are drawn against

// Boilerplate ("Title|Sentence|Sentence") that fills documents to length; {D} is the document's
// name. It must contain no fact marker (kTopics) and no "between ".
constexpr const char* kClauses[] = {
    "Confidentiality|Each party shall keep confidential all information received under this {D}.|"
    "This does not apply to information that becomes public through no fault of the recipient.",
    "Limitation of Liability|Neither party is liable for indirect or consequential loss under this "
    "{D}.|Nothing in this {D} limits liability for fraud or for death caused by negligence.",
    "Force Majeure|Neither party is liable for delay caused by events beyond its reasonable "
    "control.|The affected party shall inform the other party promptly.",
    "Assignment|Neither party may assign this {D} without the prior written consent of the other "
    "party.|Consent shall not be unreasonably withheld or delayed.",
    "Notices|Notices under this {D} must be in writing and delivered by hand, courier or email.|A "
    "notice is effective when received at the address last notified by the recipient.",
    "Entire Agreement|This {D} is the entire agreement of the parties on its subject matter.|It "
    "supersedes all prior drafts, understandings and arrangements.",
    "Dispute Resolution|The parties shall first try to resolve any dispute through talks of senior "
    "executives.|If that fails within thirty days, either party may refer it to mediation.",
    "Waiver|A waiver of any right under this {D} is effective only if given in writing.",
    "Counterparts|This {D} may be executed in any number of counterparts.",
    "Third Party Rights|A person who is not a party to this {D} may not enforce its terms.",
    "Severability|An invalid provision of this {D} does not affect the other provisions.",
    "Insurance|Each party shall maintain adequate insurance with reputable insurers.",
    "Audit|Each party shall keep accurate records relating to this {D} for six years.",
    "Subcontracting|A party remains responsible for the acts of its subcontractors.",
    "Data Protection|Each party shall comply with applicable data protection legislation.",
    "Anti-Bribery|Each party shall comply with all applicable anti-bribery laws.",
    "Variation|No variation of this {D} is effective unless it is in writing and signed by both "
    "parties.|Time is of the essence."};
constexpr int kNumClauses = static_cast<int>(std::size(kClauses));

// Document skeletons, one paragraph a line; GenerateContractCorpus fills in the {FIELDS}.
constexpr char kMasterText[] =
    "{TITLE} No. {NUM}\nThis {Title} (the \"Agreement\") is made on {DATE} (the \"Effective "
    "Date\") between {A} (the \"{RA}\") and {B} (the \"{RB}\").\n1. Scope. {SCOPE}\n2. Fees. {F0}"
    "\n3. Payment Terms. {F1}\n4. Term and Termination. This Agreement has an initial term of "
    "{YEARS} years from the Effective Date. {F2}\n5. Governing Law. {F3}";
constexpr char kAmendmentText[] =
    "AMENDMENT No. {N} ({NUM})\nThis Amendment No. {N} is made on {DATE} and amends {Title} No. "
    "{REF} (the \"Agreement\").\n1. Amendment. With effect from {DATE}, {SECTION} of the "
    "Agreement is amended to read: \"{CHANGE}\"\n2. Continuation. Except as set out in this "
    "Amendment, the Agreement continues in full force and effect.";
constexpr char kNdaText[] =
    "NON-DISCLOSURE AGREEMENT No. {NUM}\nThis Non-Disclosure Agreement (the \"Agreement\") is made "
    "on {DATE} (the \"Effective Date\") between {A} (the \"Discloser\") and {B} (the "
    "\"Recipient\").\n1. Purpose. The Discloser will share Confidential Information to evaluate a "
    "possible business relationship.\n2. Obligations. The Recipient shall keep the Confidential "
    "Information secret.\n3. Duration. The confidentiality obligations survive for {DURATION} "
    "after disclosure.\n4. Governing Law. This Agreement is governed by the laws of {LAW}.";
constexpr char kPoText[] =
    "PURCHASE ORDER No. {NUM}\nThis Purchase Order is issued on {DATE} by {A} (the \"Buyer\") to "
    "{B} (the \"Supplier\"){UNDER}.\n{LINES}Order total: {TOTAL}, excluding applicable taxes.\n"
    "Delivery: on or before {DUE} to the Buyer's site in {CITY}.\nTerms. This Purchase Order is "
    "subject to the terms set out below.";

// The amendable terms of a master agreement: where they sit and how they read ({V}: the value).
enum Field { kFee, kPayment, kNotice, kLaw, kNumFields };
constexpr std::pair<const char*, const char*> kFields[kNumFields] = {
    {"Section 2 (Fees)",
     "The {RB} shall pay the {RA} fees not exceeding {V} in aggregate over the initial term."},
    {"Section 3 (Payment Terms)", "Invoices are payable {V} from the date of receipt."},
    {"Section 4 (Term and Termination)",
     "Either party may terminate this Agreement for convenience on {V}' written notice."},
    {"Section 5 (Governing Law)", "This Agreement is governed by the laws of {V}."}};

// Question topics: the amendable terms, then facts of a single document. A topic's value is the
// text between its markers; questions read "What is the [current ]<noun> of <document>?".
enum Topic { kEffectiveDate = kNumFields, kNdaDuration, kNdaLaw, kPoTotal, kPoDelivery,
             kNumTopics };
struct TopicSpec { const char *before, *after, *noun; };
constexpr TopicSpec kTopics[kNumTopics] = {
    {"fees not exceeding ", " in aggregate", "fee cap"},
    {"Invoices are payable ", " from the date", "payment term"},
    {"for convenience on ", "' written notice", "notice period for termination for convenience"},
    {"is governed by the laws of ", ".", "governing law"},
    {"is made on ", " (the \"Effective Date\")", "effective date"},
    {"obligations survive for ", " after", "duration of the confidentiality obligations"},
    {"is governed by the laws of ", ".", "governing law"},
    {"Order total: ", ", excluding", "order total"},
    {"Delivery: on or before ", " to the", "delivery deadline"}};
struct Candidate { int first, last, topic; };  // a question; answer docs {first} or {first, last}

// clang-format on

bool IsSpace(char c) { return absl::ascii_isspace(static_cast<unsigned char>(c)); }

// Words are maximal runs of non-whitespace.
int CountWords(std::string_view s) {
  int n = 0;
  for (size_t i = 0; i < s.size(); ++i) n += !IsSpace(s[i]) && (i == 0 || IsSpace(s[i - 1]));
  return n;
}

// The first `n` words of `s`, with the whitespace between them.
std::string FirstWords(std::string_view s, int n) {
  constexpr char kSpace[] = " \t\n\v\f\r";  // as IsSpace
  size_t end = 0;
  for (int w = 0; w < n && end != std::string_view::npos; ++w) {
    end = s.find_first_not_of(kSpace, end);
    if (end != std::string_view::npos) end = s.find_first_of(kSpace, end);
  }
  return std::string(s.substr(0, end));
}

// `text` with each key replaced by its value; `kv` alternates keys and values.
template <typename... KV>
std::string Expand(const char* text, const KV&... kv) {
  const std::vector<std::string> a = {std::string(kv)...};
  std::vector<std::pair<absl::string_view, absl::string_view>> pairs;
  for (size_t i = 0; i + 1 < a.size(); i += 2) pairs.emplace_back(a[i], a[i + 1]);
  return absl::StrReplaceAll(text, pairs);
}

std::string Slug(int c) {  // "Müller GmbH" -> "mueller-gmbh"
  std::string s = absl::AsciiStrToLower(absl::StrReplaceAll(
      kCompanies[c].first, {{"é", "e"}, {"ä", "ae"}, {"ö", "oe"}, {"ü", "ue"}, {"ñ", "n"}}));
  for (char& ch : s) ch = absl::ascii_isalnum(static_cast<unsigned char>(ch)) ? ch : '-';
  return s;
}

std::string FormatDate(int days) {  // "14 March 2021" for days since 1970 (H. Hinnant's algorithm)
  days += 719468;
  const int era = days / 146097, doe = days - era * 146097;
  const int yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
  const int m = mp < 10 ? mp + 3 : mp - 9;
  return absl::StrFormat("%d %s %d", doy - (153 * mp + 2) / 5 + 1, kMonths[m - 1],
                         yoe + era * 400 + (m <= 2));
}

std::string FormatMoney(int currency, int64_t cents) {  // "EUR 1,250,000.00"
  std::string units = absl::StrFormat("%d", cents / 100);
  for (size_t i = units.size(); i > 3; i -= 3) units.insert(i - 3, 1, ',');
  return absl::StrFormat("%s %s.%02d", kCurrencies[currency], units, cents % 100);
}

struct MasterRecord {
  int kind, party_a, party_b, currency, day;
  std::array<int, kNumFields> terms = {};  // fee in 1000s; kPaymentDays, kNoticeDays, kLaws index
  std::string number = {};
  int amendments = 0;
};

std::string FieldSentence(int f, const MasterRecord& m) {
  const int v = m.terms[f];
  const std::string value = f == kFee       ? FormatMoney(m.currency, int64_t{v} * 100'000)
                            : f == kPayment ? absl::StrFormat("Net %d", kPaymentDays[v])
                            : f == kNotice  ? absl::StrFormat("%d days", kNoticeDays[v])
                                            : std::string(kLaws[v]);
  return Expand(kFields[f].second, "{V}", value, "{RA}", kKinds[m.kind].role_a, "{RB}",
                kKinds[m.kind].role_b);
}

// `core` (paragraphs, one a line) as a text of options.min_words..options.max_words words: cut at
// max_words when longer; otherwise grown with shuffled boilerplate clauses (numbered from
// `section`) towards a random target no shorter than `core`.
std::string Assemble(const std::string& core, int section, const char* doc_name,
                     const ContractCorpusOptions& options, Rng& rng) {
  int words = CountWords(core);
  if (words > options.max_words) return FirstWords(core, options.max_words) + "\n";
  std::string text = core + "\n";
  const int target = rng.Int(std::max(options.min_words, words), options.max_words);
  std::array<int, kNumClauses> order;
  std::iota(order.begin(), order.end(), 0);
  bool missed = false;  // a clause did not fit whole: stop at the end of the pass, no repeats
  for (int next = kNumClauses; words < target;) {
    if (next == kNumClauses) {  // Fisher-Yates reshuffle once every clause has been offered
      if (missed) break;
      for (int i = kNumClauses - 1; i > 0; --i) std::swap(order[i], order[rng.Below(i + 1)]);
      next = 0;
    }
    const std::vector<std::string> parts =
        absl::StrSplit(Expand(kClauses[order[next++]], "{D}", doc_name), '|');
    std::string para = absl::StrFormat("%d. %s.", section, parts[0]);
    int para_words = CountWords(para);
    size_t used = 1;  // whole sentences while they fit the target
    for (; used < parts.size() && words + para_words + CountWords(parts[used]) <= target; ++used) {
      para += " " + parts[used];
      para_words += CountWords(parts[used]);
    }
    missed = missed || used < parts.size();
    if (used == 1) continue;
    text += para + "\n";
    words += para_words;
    ++section;
  }
  const int gap = options.min_words - words;  // > 0 if no clause fitted the last few words
  if (gap == 1) text += "Signed.\n";
  for (int k = 1; k < gap; ++k) text += (k == 1 ? "Schedules: " : ", ") + std::to_string(k);
  return gap > 1 ? text + ".\n" : text;
}

// The text between the first `m.before` and the next `m.after`: one line of 1..80 bytes.
std::optional<std::string> Find(std::string_view text, const TopicSpec& m) {
  const std::string_view before = m.before;
  const size_t at = text.find(before);
  const size_t end = at == std::string_view::npos ? at : text.find(m.after, at + before.size());
  if (end == std::string_view::npos) return std::nullopt;
  const std::string_view v = text.substr(at + before.size(), end - at - before.size());
  if (v.empty() || v.size() > 80 || v.find('\n') != std::string_view::npos) return std::nullopt;
  return std::string(v);
}

// The two names of `between A (the "X") and B (the "Y")`.
std::optional<std::pair<std::string, std::string>> FindParties(std::string_view text) {
  const auto a = Find(text, {"between ", " (the \"", ""});
  const size_t at = text.find("\") and ", text.find("between "));
  const auto b = Find(text.substr(std::min(at, text.size())), {"\") and ", " (the \"", ""});
  if (!a || !b) return std::nullopt;
  return std::make_pair(*a, *b);
}

}  // namespace

absl::StatusOr<std::vector<GeneratedDocument>> GenerateContractCorpus(
    const ContractCorpusOptions& options) {
  if (options.num_documents < 1 || options.num_documents > 10'000'000 || options.min_words < 5 ||
      options.max_words < options.min_words || options.max_words > 1'000'000) {
    return absl::InvalidArgumentError(
        absl::StrFormat("need 1 <= num_documents (%d) <= 10000000, 5 <= min_words (%d) <= "
                        "max_words (%d) <= 1000000",
                        options.num_documents, options.min_words, options.max_words));
  }
  Rng rng(options.seed);
  std::vector<MasterRecord> masters;
  std::map<std::string, int> seq;
  auto next_id = [&](const char* code) { return absl::StrFormat("%s-%04d", code, ++seq[code]); };
  auto pick_pair = [&](int* a, int* b) {
    *a = rng.Int(0, kNumCompanies - 1);
    *b = (*a + rng.Int(1, kNumCompanies - 1)) % kNumCompanies;
  };
  std::vector<GeneratedDocument> docs;
  docs.reserve(static_cast<size_t>(options.num_documents));
  for (int i = 0; i < options.num_documents; ++i) {
    int roll = rng.Int(0, 99);  // 35% master, 20% amendment, 20% NDA, 25% purchase order
    if (roll >= 35 && roll < 55 && masters.empty()) roll = 0;  // nothing to amend yet
    GeneratedDocument doc;
    std::string core, number;
    const char* doc_name = "Agreement";
    int section = 1;
    if (roll < 35) {
      int a, b;
      pick_pair(&a, &b);
      // Braced initialisers are evaluated left to right, so the draws are ordered.
      MasterRecord m{rng.Int(0, kNumKinds - 1), a, b, rng.Index(kCurrencies),
                     kFirstDay + rng.Int(0, kDaySpan - 1)};
      m.terms = {rng.Int(10, 5000), rng.Index(kPaymentDays), rng.Index(kNoticeDays),
                 rng.Index(kLaws)};
      const MasterKind& k = kKinds[m.kind];
      const char* object = k.objects[rng.Below(k.objects.size())];
      const int years = rng.Int(1, 5);
      m.number = number = next_id(k.code);
      core = Expand(kMasterText, "{TITLE}", absl::AsciiStrToUpper(k.title), "{Title}", k.title,
                    "{NUM}", number, "{DATE}", FormatDate(m.day), "{A}", kCompanies[a].first,
                    "{RA}", k.role_a, "{B}", kCompanies[b].first, "{RB}", k.role_b, "{SCOPE}",
                    Expand(k.scope, "{X}", object), "{YEARS}", absl::StrFormat("%d", years), "{F0}",
                    FieldSentence(kFee, m), "{F1}", FieldSentence(kPayment, m), "{F2}",
                    FieldSentence(kNotice, m), "{F3}", FieldSentence(kLaw, m));
      section = 6;
      doc.tags = {"master", k.tag, Slug(a), Slug(b)};
      masters.push_back(std::move(m));
    } else if (roll < 55) {  // changes one term of an earlier master agreement
      MasterRecord& m = masters[rng.Below(masters.size())];
      const int f = rng.Int(0, kNumFields - 1);
      const int step = rng.Int(1, 4);  // every change gives a different value
      m.terms[f] =
          f == kFee ? m.terms[f] + 50 * step : (m.terms[f] + step) % (f == kLaw ? kNumLaws : 5);
      m.day += rng.Int(15, 400);
      number = next_id("AMD");
      core = Expand(kAmendmentText, "{N}", absl::StrFormat("%d", ++m.amendments), "{NUM}", number,
                    "{DATE}", FormatDate(m.day), "{Title}", kKinds[m.kind].title, "{REF}", m.number,
                    "{SECTION}", kFields[f].first, "{CHANGE}", FieldSentence(f, m));
      doc_name = "Amendment";
      section = 3;
      doc.tags = {"amendment", kKinds[m.kind].tag, "amends-" + absl::AsciiStrToLower(m.number)};
    } else if (roll < 75) {
      int a, b;
      pick_pair(&a, &b);
      const int day = kFirstDay + rng.Int(0, kDaySpan - 1);
      const char* duration = kNdaDurations[rng.Index(kNdaDurations)];
      const char* law = kLaws[rng.Index(kLaws)];
      number = next_id("NDA");
      core =
          Expand(kNdaText, "{NUM}", number, "{DATE}", FormatDate(day), "{A}", kCompanies[a].first,
                 "{B}", kCompanies[b].first, "{DURATION}", duration, "{LAW}", law);
      section = 5;
      doc.tags = {"nda", Slug(a), Slug(b)};
    } else {  // purchase order, under a supply agreement if it draws one
      const MasterRecord* sup = masters.empty() ? nullptr : &masters[rng.Below(masters.size())];
      if (sup != nullptr && sup->kind != kSupply) sup = nullptr;
      int buyer = sup ? sup->party_b : 0, supplier = sup ? sup->party_a : 0;
      if (sup == nullptr) pick_pair(&buyer, &supplier);
      const int currency = sup ? sup->currency : rng.Index(kCurrencies);
      const int day = sup ? sup->day + rng.Int(1, 365) : kFirstDay + rng.Int(0, kDaySpan - 1);
      const std::string under = sup ? " under Supply Agreement No. " + sup->number : "";
      std::string lines;
      int64_t total = 0;
      for (int l = 1, n = rng.Int(1, 4); l <= n; ++l) {
        const int qty = rng.Int(1, 2000);
        const int64_t unit = int64_t{rng.Int(1, 20000)} * 25;  // cents
        const char* goods = kKinds[kSupply].objects[rng.Below(kKinds[kSupply].objects.size())];
        total += qty * unit;
        lines += absl::StrFormat("Line %d: %d units of %s at %s per unit.\n", l, qty, goods,
                                 FormatMoney(currency, unit));
      }
      const int due = day + rng.Int(14, 120);
      number = next_id("PO");
      core = Expand(kPoText, "{NUM}", number, "{DATE}", FormatDate(day), "{A}",
                    kCompanies[buyer].first, "{B}", kCompanies[supplier].first, "{UNDER}", under,
                    "{LINES}", lines, "{TOTAL}", FormatMoney(currency, total), "{DUE}",
                    FormatDate(due), "{CITY}", kCompanies[buyer].second);
      doc_name = "Purchase Order";
      doc.tags = {"purchase-order", Slug(buyer), Slug(supplier)};
    }
    doc.source = "contracts/" + number + ".txt";
    doc.text = Assemble(core, section, doc_name, options, rng);
    docs.push_back(std::move(doc));
  }
  return docs;
}

std::string ToJsonl(const std::vector<GeneratedDocument>& docs) {
  std::string out;
  for (const GeneratedDocument& d : docs) {
    const nlohmann::ordered_json j = {{"text", d.text}, {"source", d.source}, {"tags", d.tags}};
    out += j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
  }
  return out;
}

std::vector<CorpusQuestion> MakeQuestions(const std::vector<GeneratedDocument>& docs, int count,
                                          uint64_t seed) {
  const int n = static_cast<int>(docs.size());
  std::vector<std::string> numbers(docs.size());  // "SUP-0003" from "contracts/SUP-0003.txt"
  std::vector<int> kinds(docs.size(), -1);    // index into kKinds, kNumKinds for an NDA, else -1
  std::map<std::string, int> identity_count;  // "kind|A|B" (A <= B) -> documents
  std::map<std::string, std::array<int, kNumFields>> amended_by;  // master number -> doc or -1
  std::array<std::vector<Candidate>, 4> cats;  // multi-hop, master facts, NDAs, purchase orders
  bool amendments_read = true;  // false if some amendment's target or change is unreadable
  auto identity_key = [&](int i) -> std::string {
    auto p = FindParties(docs[i].text);
    if (p && p->second < p->first) std::swap(p->first, p->second);
    return p ? absl::StrFormat("%d|%s|%s", kinds[i], p->first, p->second) : "";
  };
  for (int i = 0; i < n && count > 0; ++i) {
    const std::string& s = docs[i].source;
    if (!absl::StartsWith(s, "contracts/") || !absl::EndsWith(s, ".txt") || s.size() < 15) continue;
    numbers[i] = s.substr(10, s.size() - 14);
    const std::string code = numbers[i].substr(0, numbers[i].find('-')), &t = docs[i].text;
    for (int k = 0; k < kNumKinds; ++k) kinds[i] = code == kKinds[k].code ? k : kinds[i];
    if (code == "NDA") kinds[i] = kNumKinds;
    if (kinds[i] >= 0) ++identity_count[identity_key(i)];
    if (kinds[i] >= 0 && kinds[i] < kNumKinds) amended_by[numbers[i]].fill(-1);
    for (int topic : {kNdaDuration, kNdaLaw, kPoTotal, kPoDelivery}) {
      const bool fits = code == (topic < kPoTotal ? "NDA" : "PO");
      if (fits && Find(t, kTopics[topic])) cats[topic < kPoTotal ? 2 : 3].push_back({i, i, topic});
    }
    if (code != "AMD") continue;
    const std::optional<std::string> ref = Find(t, {"and amends ", " (the \"Agreement\")", ""});
    const size_t no = ref ? ref->find(" No. ") : std::string::npos;
    auto it = no == std::string::npos ? amended_by.end() : amended_by.find(ref->substr(no + 5));
    int changed = 0;
    for (int f = 0; f < kNumFields && it != amended_by.end(); ++f) {
      if (Find(t, kTopics[f])) it->second[f] = i, ++changed;
    }
    amendments_read = amendments_read && changed == 1;
  }
  for (int i = 0; i < n && count > 0; ++i) {  // master facts, now the last amendments are known
    if (kinds[i] < 0 || kinds[i] >= kNumKinds) continue;
    if (Find(docs[i].text, kTopics[kEffectiveDate])) cats[1].push_back({i, i, kEffectiveDate});
    for (int f = 0; f < kNumFields && amendments_read; ++f) {
      const int by = amended_by[numbers[i]][f];
      if (by >= 0) cats[0].push_back({i, by, f});
      if (by < 0 && Find(docs[i].text, kTopics[f])) cats[1].push_back({i, i, f});
    }
  }
  Rng rng(seed);
  std::vector<CorpusQuestion> out;
  for (bool any = true; any && static_cast<int>(out.size()) < count;) {
    any = false;
    for (std::vector<Candidate>& cat : cats) {  // one draw per category per round
      if (cat.empty() || static_cast<int>(out.size()) >= count) continue;
      std::swap(cat[rng.Below(cat.size())], cat.back());
      const Candidate c = cat.back();
      cat.pop_back();
      any = true;
      std::string id = "purchase order " + numbers[c.first];  // how the question names the doc
      if (c.topic < kPoTotal) {  // by its parties where that is unambiguous, else by number
        const std::string title =
            kinds[c.first] == kNumKinds ? "Non-Disclosure Agreement" : kKinds[kinds[c.first]].title;
        const auto parties = FindParties(docs[c.first].text);
        id = parties && identity_count[identity_key(c.first)] == 1
                 ? absl::StrFormat("the %s between %s and %s", absl::AsciiStrToLower(title),
                                   parties->first, parties->second)
                 : title + " " + numbers[c.first];
      }
      CorpusQuestion q;
      q.question = absl::StrFormat("What is the %s%s of %s?", c.first == c.last ? "" : "current ",
                                   kTopics[c.topic].noun, id);
      q.answer_docs = {c.first};
      if (c.last != c.first) q.answer_docs.push_back(c.last);
      q.answer = *Find(docs[c.last].text, kTopics[c.topic]);
      out.push_back(std::move(q));
    }
  }
  return out;
}

}  // namespace mneme::gen
