import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface Series { label: string; values: number[]; color: string }

/** A small uPlot line chart over epochs; redrawn in place as data arrives. */
export function LineChart({ title, x, series, testId }: { title: string; x: number[]; series: Series[]; testId?: string }) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const key = series.map((s) => s.label).join('|');
  useEffect(() => {
    if (!host.current) return;
    plot.current = new uPlot({
      title, width: 360, height: 200,
      scales: { x: { time: false } },
      axes: [{ label: 'epoch' }, {}],
      series: [{ label: 'epoch' }, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 2, points: { size: 5 } }))],
    }, [x, ...series.map((s) => s.values)], host.current);
    return () => {
      plot.current?.destroy();
      plot.current = null;
    };
    // Rebuild only when the set of series changes; data updates go through setData below.
  }, [title, key]); // eslint-disable-line react-hooks/exhaustive-deps
  useEffect(() => {
    plot.current?.setData([x, ...series.map((s) => s.values)]);
  }, [x, series]);
  return <div ref={host} className="chart" data-testid={testId} data-points={x.length} />;
}
