// The Billing page's daily chart, drawn by Chart.js (installed from npm, served as vendor/chart.js).
// The figures come from the page itself (a JSON script element); the table beside it holds the same.
(function () {
  "use strict";
  var canvas = document.getElementById("cost-chart");
  var source = document.getElementById("cost-chart-data");
  if (!canvas || !source || typeof window.Chart === "undefined") {
    return;
  }
  var data = JSON.parse(source.textContent);
  new window.Chart(canvas, {
    type: "bar",
    data: {
      labels: data.labels,
      datasets: [{ label: "Cost (" + data.currency + ")", data: data.values, backgroundColor: "#2f5fd0" }],
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      scales: { y: { beginAtZero: true, title: { display: true, text: data.currency } } },
      plugins: { legend: { display: false } },
    },
  });
})();
