"use strict";
// Duplicate review from the keyboard: j / k move between items (across groups),
// 1 keep, 2 not keep, 0 unmarked, s saves the current item's group.
(function () {
  const items = Array.from(document.querySelectorAll("section.group li.item"));
  if (!items.length) return;
  let at = 0;
  const show = (i) => {
    items[at].classList.remove("current");
    at = Math.max(0, Math.min(items.length - 1, i));
    items[at].classList.add("current");
    items[at].scrollIntoView({ block: "nearest" });
  };
  items.forEach((li, i) => li.addEventListener("click", () => show(i)));
  // back from saving a group (…#group-N): carry on there
  const back = /^#group-\d+$/.test(location.hash) && document.querySelector(`${location.hash} li.item`);
  show(back ? items.indexOf(back) : 0);
  const mark = (value) => {
    const radio = items[at].querySelector(`input[type=radio][value="${value}"]`);
    if (radio) { radio.checked = true; items[at].dataset.mark = value; }
  };
  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const t = ev.target;
    if (t && (t.tagName === "INPUT" && t.type !== "radio" || t.tagName === "SELECT" || t.tagName === "TEXTAREA")) return;
    const keys = { j: () => show(at + 1), k: () => show(at - 1), "1": () => mark("keep"),
                   "2": () => mark("not-keep"), "0": () => mark(""),
                   s: () => items[at].closest("form").requestSubmit() };
    const act = keys[ev.key];
    if (act) { ev.preventDefault(); act(); }
  });
})();
