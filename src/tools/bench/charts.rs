//! Charts of the benchmarks' figures, as SVG beside their JSON (`plotters`' SVG backend: text
//! is left to the viewer's fonts, so nothing here needs a font or an image library).

use std::path::{Path, PathBuf};

use plotters::prelude::*;

/// One line of a chart: its name, colour and points.
pub struct Series<'a> {
    pub label: &'a str,
    pub color: RGBColor,
    pub points: Vec<(f64, f64)>,
}

/// One panel: a title, axis names, and its lines.
pub struct Panel<'a> {
    pub title: &'a str,
    pub x: &'a str,
    pub y: &'a str,
    pub series: Vec<Series<'a>>,
    /// Where the legend sits: a corner the lines leave free.
    pub legend: SeriesLabelPosition,
}

pub const GATEWAY: RGBColor = RGBColor(0xd9, 0x48, 0x1b);
pub const BASELINE: RGBColor = RGBColor(0x1f, 0x62, 0xb4);
/// A baseline with what the gateway cannot do without added (the flow's commits).
pub const FLOOR: RGBColor = RGBColor(0x2a, 0x9d, 0x3c);
/// The floor behind one HTTP hop (`bench flow`'s bare gateway).
pub const BARE: RGBColor = RGBColor(0x8e, 0x44, 0xad);
pub const QUOTA: RGBColor = RGBColor(0x55, 0x55, 0x55);

/// Draws the panels side by side into the results folder as `<name>.svg`, beside the figures'
/// JSON ([`super::results`]), and says where.
pub fn draw(name: &str, panels: &[Panel<'_>]) -> anyhow::Result<PathBuf> {
    let path = draw_in(&super::results::dir(), name, panels)?;
    println!("(chart drawn to `{}`)", path.display());
    Ok(path)
}

fn draw_in(dir: &Path, name: &str, panels: &[Panel<'_>]) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{name}.svg"));
    let columns = panels.len().max(1);
    let width = u32::try_from(columns).unwrap_or(1).saturating_mul(420);
    {
        let root = SVGBackend::new(&path, (width, 340)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let areas = root.split_evenly((1, columns));
        for (area, panel) in areas.iter().zip(panels) {
            draw_panel(area, panel)?;
        }
        root.present().map_err(plot_error)?;
    }
    Ok(path)
}

fn draw_panel(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    panel: &Panel<'_>,
) -> anyhow::Result<()> {
    let points = panel.series.iter().flat_map(|s| s.points.iter());
    let (x_max, y_max) = points.fold((0.0f64, 0.0f64), |(x, y), (px, py)| {
        (x.max(*px), y.max(*py))
    });
    // A little headroom, and a non-empty range when every value is 0.
    let (x_max, y_max) = ((x_max * 1.05).max(1e-3), (y_max * 1.05).max(1e-3));
    let mut chart = ChartBuilder::on(area)
        .caption(panel.title, ("sans-serif", 17))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d(0f64..x_max, 0f64..y_max)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc(panel.x)
        .y_desc(panel.y)
        .x_label_formatter(&|v| trim(*v))
        .y_label_formatter(&|v| trim(*v))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(plot_error)?;
    for series in &panel.series {
        let color = series.color;
        chart
            .draw_series(LineSeries::new(
                series.points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(plot_error)?
            .label(series.label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(panel.legend.clone())
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()
        .map_err(plot_error)?;
    Ok(())
}

/// The cumulative distribution of `samples`: (value, percent of samples at or below it).
pub fn cdf(samples: &[f64]) -> Vec<(f64, f64)> {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len() as f64;
    sorted
        .iter()
        .enumerate()
        .map(|(i, v)| (*v, 100.0 * (i + 1) as f64 / n))
        .collect()
}

/// Where a distribution chart's value axis ends: a fifth past the highest 99.5th percentile
/// among `sets`, so that one outlier in hundreds does not squeeze every curve against the
/// left edge.
pub fn cdf_limit(sets: &[&[f64]]) -> f64 {
    sets.iter()
        .map(|set| super::harness::percentile(set, 0.995))
        .fold(0.0, f64::max)
        * 1.2
}

/// [`cdf`], with every value past `limit` drawn at `limit`: the curve runs up the axis's end.
pub fn cdf_within(samples: &[f64], limit: f64) -> Vec<(f64, f64)> {
    cdf(samples)
        .into_iter()
        .map(|(v, pct)| (v.min(limit), pct))
        .collect()
}

/// An axis value as short as it reads: no ".0" on whole numbers.
fn trim(v: f64) -> String {
    if v.fract() == 0.0 || v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn plot_error<E: std::error::Error + Send + Sync + 'static>(e: E) -> anyhow::Error {
    anyhow::anyhow!("drawing a chart: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outlier_is_drawn_at_the_end_of_the_axis() {
        let mut many = vec![1.0; 999];
        many.push(100.0);
        let limit = cdf_limit(&[&many, &[2.0, 3.0]]);
        assert!((limit - 3.6).abs() < 1e-9, "{limit}");
        let points = cdf_within(&many, limit);
        assert_eq!(points.last(), Some(&(limit, 100.0)));
        assert_eq!(points[998], (1.0, 99.9));
    }

    #[test]
    fn a_cdf_ends_at_one_hundred_percent_in_value_order() {
        let points = cdf(&[3.0, 1.0, 2.0, 4.0]);
        assert_eq!(
            points,
            vec![(1.0, 25.0), (2.0, 50.0), (3.0, 75.0), (4.0, 100.0)]
        );
        assert!(cdf(&[]).is_empty());
    }

    #[test]
    fn a_chart_is_an_svg_with_its_titles_and_labels() {
        let dir = std::env::temp_dir().join(format!("bench-charts-{}", uuid::Uuid::new_v4()));
        let panel = Panel {
            title: "purchase",
            x: "milliseconds",
            y: "% of purchases",
            legend: SeriesLabelPosition::LowerRight,
            series: vec![
                Series {
                    label: "gateway",
                    color: GATEWAY,
                    points: cdf(&[1.0, 2.0, 5.0]),
                },
                Series {
                    label: "upstream alone",
                    color: BASELINE,
                    points: cdf(&[0.5, 0.7, 0.9]),
                },
            ],
        };
        let path = draw_in(&dir, "unit", &[panel]).expect("drawn");
        let svg = std::fs::read_to_string(&path).expect("read");
        std::fs::remove_dir_all(&dir).ok();
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
        for text in ["purchase", "milliseconds", "gateway", "upstream alone"] {
            assert!(svg.contains(text), "{text} missing from the chart");
        }
    }
}
