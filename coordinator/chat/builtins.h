// Built-ins of the chat-template interpreter: Jinja2 filters (filters.cc) and tests
// (jinja_tests.cc), Python attribute/item access and str/dict/list methods (methods.cc),
// Python string formatting (format.cc) and str helpers (strings.cc).
#pragma once

#include <string>
#include <string_view>

#include "coordinator/chat/value.h"

namespace moe::chat {

// Whether a filter / test of that name exists (checked when a template is parsed).
bool IsKnownFilter(std::string_view name);
bool IsKnownTest(std::string_view name);

// `input | name(args)`. Errors carry no line; the evaluator adds it.
absl::StatusOr<Value> ApplyFilter(std::string_view name, const Value& input, const CallArgs& args);
// `input is name(args)`.
absl::StatusOr<bool> ApplyTest(std::string_view name, const Value& input, const CallArgs& args);

// Jinja's getattr (`obj.name`): methods of str/dict/list first, then dict keys and namespace
// attributes; missing gives Undefined. Fails only when `obj` is Undefined.
absl::StatusOr<Value> GetAttr(const Value& obj, const std::string& name);
// Jinja's getitem (`obj[key]`): list/str index (negative allowed), dict key, then attribute;
// missing gives Undefined. Fails only when `obj` is Undefined.
absl::StatusOr<Value> GetItem(const Value& obj, const Value& key);
// obj[start:stop:step] on a list, tuple or str (null parts are None); other objects give
// Undefined.
absl::StatusOr<Value> GetSlice(const Value& obj, const Value& start, const Value& stop,
                               const Value& step);
// `item in container` (substring, element or key).
absl::StatusOr<bool> Contains(const Value& container, const Value& item);

// Python's `format % args` (printf style: %s %r %d %i %f %e %g %x %o %c %%).
absl::StatusOr<std::string> PercentFormat(const std::string& format, const Value& args);
// Python's str.format(*args, **kwargs): {} {0} {name} with [[fill]align][sign][0][width]
// [.precision][type] specs and !s / !r.
absl::StatusOr<std::string> BraceFormat(const std::string& format, const CallArgs& args);

// String helpers shared by filters and methods (Python semantics). Case mapping covers
// ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic.
std::string PyLower(const std::string& s);
std::string PyUpper(const std::string& s);
// str.capitalize(); Jinja's title filter (words start after whitespace, -, (, {, [, <);
// str.title() (words start after any character without case).
std::string PyCapitalize(const std::string& s);
std::string PyTitle(const std::string& s);
std::string PyStrTitle(const std::string& s);
// str.strip/lstrip/rstrip: `chars` null strips whitespace. which: 'b'oth, 'l'eft, 'r'ight.
std::string PyStrip(const std::string& s, const Value* chars, char which);
// str.split / str.rsplit: sep null or None splits on whitespace runs.
ValueList PySplit(const std::string& s, const Value* sep, int64_t maxsplit, bool from_right);
// str.replace(old, new, count); count < 0 replaces all.
std::string PyReplace(const std::string& s, const std::string& old_text,
                      const std::string& new_text, int64_t count);
// str.splitlines() (without keepends).
std::vector<std::string> PySplitLines(const std::string& s);
// Python's s[start:stop] on code points (negative indices count from the end).
std::string PySubstr(const std::string& s, int64_t start, int64_t stop);
// Number of code points.
int64_t PyLen(const std::string& s);
// Python slice bounds: normalizes start/stop (None = null) for a sequence of `length` items
// and returns the selected indexes.
absl::StatusOr<std::vector<int64_t>> SliceIndexes(int64_t length, const Value& start,
                                                  const Value& stop, const Value& step);

}  // namespace moe::chat
