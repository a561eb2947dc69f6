// A report run's page: follow the run until it finishes (then show it), and draw its charts
// with Plotly from the data the page carries (#lumen-charts). No inline script: the page
// works under a Content-Security-Policy that allows scripts from this site only.
(function () {
  "use strict";
  const root = document.querySelector(".lumen-run");
  if (root && root.dataset.finished === "false") {
    const progress = document.getElementById("lumen-progress");
    const follow = async function () {
      try {
        const answer = await fetch(root.dataset.statusUrl, { credentials: "same-origin" });
        const run = await answer.json();
        if (run.finished) {
          window.location.reload();
          return;
        }
        if (progress) {
          progress.textContent = run.syncing ? "Syncing with Stripe first…" :
            run.status === "queued" ? "Waiting for a worker…" : "Computing…";
        }
      } catch (error) {
        if (progress) progress.textContent = "Cannot reach Lumen; trying again…";
      }
      window.setTimeout(follow, 1000);
    };
    window.setTimeout(follow, 1000);
  }
  const data = document.getElementById("lumen-charts");
  if (data && window.Plotly) {
    for (const chart of JSON.parse(data.textContent)) {
      window.Plotly.newPlot("chart-" + chart.id, chart.data, chart.layout,
        { displaylogo: false, responsive: true });
    }
  }
})();
