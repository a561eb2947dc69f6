// "Run a report": the first and last day matter only for a custom range.
(function () {
  "use strict";
  const period = document.getElementById("id_period");
  if (!period) return;
  const rows = ["date_from", "date_to"].map(
    (name) => document.querySelector(".field-" + name));
  const show = function () {
    for (const row of rows) {
      if (row) row.style.display = period.value === "custom" ? "" : "none";
    }
  };
  period.addEventListener("change", show);
  show();
})();
