// src/config/fields.h (private) - one field list per config section, shared by Reader and Writer.
// C is the section struct (const for Writer). Defined in fields_<area>.cpp, instantiated for both visitors.
#pragma once
#include <string>

#include "tips/config/config.h"
#include "visitor.h"

namespace tips::config::detail {

template <class V, class C> void visit_schedule(V& v, C& c);
template <class V, class C> void visit_vision(V& v, C& c);
template <class V, class C> void visit_text(V& v, C& c, const std::string& model_preset);
template <class V, class C> void visit_heads(V& v, C& c);
template <class V, class C> void visit_loss(V& v, C& c);
template <class V, class C> void visit_teacher(V& v, C& c);
template <class V, class C> void visit_optim(V& v, C& c);
template <class V, class C> void visit_train(V& v, C& c);
template <class V, class C> void visit_ckpt(V& v, C& c);
template <class V, class C> void visit_data(V& v, C& c);
template <class V, class C> void visit_dist(V& v, C& c);
template <class V, class C> void visit_eval(V& v, C& c);

// Explicit instantiation for both visitors (used at the bottom of each fields_*.cpp).
#define TIPS_INSTANTIATE_VISIT(fn, Type)                      \
  template void fn<Reader, Type>(Reader&, Type&);             \
  template void fn<Writer, const Type>(Writer&, const Type&);

}  // namespace tips::config::detail
