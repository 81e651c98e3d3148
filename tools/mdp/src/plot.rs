//! SVG plots (plotters, SVG backend: no system libraries): `mdp bench --plot` draws the
//! latency percentile distributions (the HdrHistogram view: latency against a log-scale
//! percentile axis) and the throughput of each run; `mdp replay --plot` draws throughput and
//! latency over time.

use std::path::Path;

use anyhow::{anyhow, Result};
use hdrhistogram::Histogram;
use plotters::prelude::*;

/// Colours of the series, in order.
const COLOURS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
];

/// A named series of points.
pub(crate) type Series<'a> = (&'a str, Vec<(f64, f64)>);

fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("plot: {e}")
}

/// Draw each series in its colour (with a dot per point when `markers`) and the legend.
fn lines<'a, DB, X, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    series: &[Series<'_>],
    markers: bool,
    legend_at: SeriesLabelPosition,
) -> Result<()>
where
    DB: DrawingBackend + 'a,
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    for (i, (name, pts)) in series.iter().enumerate() {
        let c = COLOURS[i % COLOURS.len()];
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))
            .map_err(err)?
            .label(*name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        if markers {
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 4, c.filled())))
                .map_err(err)?;
        }
    }
    chart
        .configure_series_labels()
        .position(legend_at)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    Ok(())
}

/// Percentile distribution points of `h` (µs against 1/(1-q)), for the log percentile axis.
pub(crate) fn percentile_points(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    h.iter_quantiles(5)
        .filter(|v| v.quantile_iterated_to() < 1.0)
        .map(|v| {
            (
                1.0 / (1.0 - v.quantile_iterated_to()),
                v.value_iterated_to() as f64 / 1000.0,
            )
        })
        .collect()
}

/// "99.9%" for the axis value 1000 = 1/(1-0.999).
fn percentile_label(x: &f64) -> String {
    let q = 100.0 * (1.0 - 1.0 / x);
    let s = format!("{q:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}%")
}

fn bounds(series: &[Series<'_>], f: fn(&(f64, f64)) -> f64) -> (f64, f64) {
    series
        .iter()
        .flat_map(|(_, pts)| pts.iter().map(f))
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        })
}

/// `mdp bench --plot`: left, each latency distribution (µs, log) against the percentile
/// (log of 1/(1-q)); right, throughput (M ticks/s) of each contender in each run.
pub(crate) fn bench_svg(
    path: &Path,
    title: &str,
    latency: &[Series<'_>],
    throughput: &[Series<'_>],
) -> Result<()> {
    let mut svg = String::new();
    bench_draw(&mut svg, title, latency, throughput)?;
    write(path, &svg)
}

/// Write `svg` to `path` the way every output of mdp is written (a regular file, replaced
/// only when finished).
fn write(path: &Path, svg: &str) -> Result<()> {
    crate::output::write_text(path, svg)?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

fn bench_draw(
    svg: &mut String,
    title: &str,
    latency: &[Series<'_>],
    throughput: &[Series<'_>],
) -> Result<()> {
    let root = SVGBackend::with_string(svg, (1400, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let root = root.titled(title, ("sans-serif", 20)).map_err(err)?;
    let (left, right) = root.split_horizontally(800);
    let (_, x_hi) = bounds(latency, |p| p.0);
    let (y_lo, y_hi) = bounds(latency, |p| p.1);
    let x_hi = 10f64.powf(x_hi.max(10.0).log10().ceil());
    let mut chart = ChartBuilder::on(&left)
        .caption(
            "Latency ts_recv → sink by percentile (HdrHistogram view)",
            ("sans-serif", 16),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(
            (1f64..x_hi).log_scale(),
            ((y_lo * 0.8).max(1e-3)..(y_hi * 1.25)).log_scale(),
        )
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency (µs)")
        .x_label_formatter(&percentile_label)
        .y_label_formatter(&|y| format!("{y}"))
        .draw()
        .map_err(err)?;
    lines(&mut chart, latency, false, SeriesLabelPosition::UpperLeft)?;

    let runs = throughput.iter().map(|(_, p)| p.len()).max().unwrap_or(1);
    let (_, t_hi) = bounds(throughput, |p| p.1);
    let mut chart = ChartBuilder::on(&right)
        .caption("Throughput per run (unpaced)", ("sans-serif", 16))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0.5f64..runs as f64 + 0.5, 0f64..(t_hi * 1.6).max(1e-3))
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("run")
        .y_desc("M ticks/s")
        .x_labels(runs.min(20))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .draw()
        .map_err(err)?;
    lines(
        &mut chart,
        throughput,
        true,
        SeriesLabelPosition::UpperRight,
    )?;
    root.present().map_err(err)?;
    Ok(())
}

/// `mdp replay --plot`: throughput (M ticks/s per interval) and latency (µs, log) over time.
pub(crate) fn over_time_svg(
    path: &Path,
    title: &str,
    throughput: &[(f64, f64)],
    latency: &[Series<'_>],
) -> Result<()> {
    let mut svg = String::new();
    over_time_draw(&mut svg, title, throughput, latency)?;
    write(path, &svg)
}

fn over_time_draw(
    svg: &mut String,
    title: &str,
    throughput: &[(f64, f64)],
    latency: &[Series<'_>],
) -> Result<()> {
    let root = SVGBackend::with_string(svg, (1200, 760)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let root = root.titled(title, ("sans-serif", 20)).map_err(err)?;
    let (top, bottom) = root.split_vertically(360);
    let t_hi = throughput.iter().map(|p| p.0).fold(0.0, f64::max).max(1e-3);
    let r_hi = throughput.iter().map(|p| p.1).fold(0.0, f64::max).max(1e-3);
    let mut chart = ChartBuilder::on(&top)
        .caption("Throughput", ("sans-serif", 16))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..t_hi, 0f64..r_hi * 1.15)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("time (s)")
        .y_desc("M ticks/s")
        .draw()
        .map_err(err)?;
    chart
        .draw_series(LineSeries::new(
            throughput.iter().copied(),
            COLOURS[0].stroke_width(2),
        ))
        .map_err(err)?;
    let (y_lo, y_hi) = bounds(latency, |p| p.1);
    let (y_lo, y_hi) = if y_lo.is_finite() {
        (y_lo, y_hi)
    } else {
        (1.0, 10.0)
    };
    let mut chart = ChartBuilder::on(&bottom)
        .caption(
            "Latency ts_recv → sink per interval (bucket upper bounds, 1-2-5 steps)",
            ("sans-serif", 16),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(
            0f64..t_hi,
            ((y_lo * 0.8).max(1e-3)..y_hi * 1.25).log_scale(),
        )
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("time (s)")
        .y_desc("latency (µs)")
        .y_label_formatter(&|y| format!("{y}"))
        .draw()
        .map_err(err)?;
    lines(&mut chart, latency, false, SeriesLabelPosition::UpperRight)?;
    root.present().map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_plots_draw_their_series_as_svg() {
        let mut h = Histogram::<u64>::new(3).unwrap();
        for v in 1..10_000u64 {
            h.record(v * 10).unwrap();
        }
        let lat = [
            ("ring", percentile_points(&h)),
            ("pipeline", percentile_points(&h)),
        ];
        let thr = [("ring", vec![(1.0, 50.0), (2.0, 60.0)])];
        let mut svg = String::new();
        bench_draw(&mut svg, "t", &lat, &thr).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("99.9%") && svg.contains("pipeline"));
        let mut svg = String::new();
        over_time_draw(&mut svg, "t", &[(0.5, 10.0), (1.0, 12.0)], &lat).unwrap();
        assert!(svg.contains("<polyline"), "{svg}");
    }

    #[test]
    fn percentile_labels_read_as_percentiles() {
        assert_eq!(percentile_label(&1.0), "0%");
        assert_eq!(percentile_label(&10.0), "90%");
        assert_eq!(percentile_label(&1000.0), "99.9%");
    }
}
