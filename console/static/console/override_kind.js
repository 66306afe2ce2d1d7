// The override form follows the kind chosen (its targets, whether it expires): choosing one
// reloads the form for it. A file, not an inline handler: the admin's Content-Security-Policy
// refuses those.
document.addEventListener("change", (event) => {
  const select = event.target.closest("select[data-reload-as]");
  if (select) {
    location.search = "?" + select.dataset.reloadAs + "=" + encodeURIComponent(select.value);
  }
});
