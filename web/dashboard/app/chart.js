// The ownership balance as bars (uPlot, vendored): customers per owner, with each owner's
// capacity marked as a tick above the bar. The same numbers fill the table below it.
let plot = null;

function size(el) {
  const width = Math.max(280, el.clientWidth || 600);
  return { width, height: width < 500 ? 200 : 240 };
}

export function drawBalance(el, owners) {
  const names = owners.map((o) => o.name);
  const xs = owners.map((_, i) => i);
  const counts = owners.map((o) => o.customers);
  const capacity = owners.map((o) => (o.capacity == null ? null : o.capacity));
  el.dataset.counts = JSON.stringify(Object.fromEntries(owners.map((o) => [o.id, o.customers])));
  const data = [xs, counts, capacity];
  if (plot && plot.series.length === 3 && plot.data[0].length === xs.length) {
    plot.names = names;
    plot.setData(data);
    return;
  }
  if (plot) plot.destroy();
  const bars = uPlot.paths.bars({ size: [0.6, 80] });
  const opts = {
    ...size(el),
    legend: { show: false },
    cursor: { show: false },
    scales: {
      x: { time: false, range: () => [-0.5, Math.max(0.5, xs.length - 0.5)] },
      y: { range: (u, min, max) => [0, Math.max(5, Math.ceil((max || 0) * 1.15))] },
    },
    axes: [
      {
        splits: () => xs,
        values: (u) => u.names.map((n) => (n.length > 12 ? n.slice(0, 11) + "…" : n)),
        gap: 4,
      },
      { size: 40 },
    ],
    series: [
      {},
      { label: "customers", fill: "#2f6fed", stroke: "#2f6fed", paths: bars, points: { show: false } },
      {
        label: "capacity",
        stroke: "#c4320a",
        width: 0,
        paths: () => null,
        points: { show: true, size: 14, width: 3, fill: "#c4320a", stroke: "#c4320a" },
      },
    ],
  };
  el.textContent = "";
  plot = new uPlot(opts, data, el);
  plot.names = names;
}

export function resizeBalance(el) {
  if (plot) plot.setSize(size(el));
}
