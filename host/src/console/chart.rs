//! Line charts drawn on the server as inline SVG: no script, no library, colours from the
//! stylesheet (one class per series).

use maud::{html, Markup};

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 180.0;
const LEFT: f64 = 44.0;
const BOTTOM: f64 = 22.0;
const TOP: f64 = 8.0;

/// One line: its CSS class (`s-NAME`), its legend and its points, oldest first.
pub struct Line<'a> {
    pub name: &'a str,
    pub points: &'a [u64],
}

/// A chart of `lines` sharing one y axis; `x_labels` are (index, text) ticks under the axis.
pub fn lines(title: &str, lines: &[Line<'_>], x_labels: &[(usize, String)]) -> Markup {
    let n = lines
        .iter()
        .map(|l| l.points.len())
        .max()
        .unwrap_or(0)
        .max(2);
    let top = nice_max(
        lines
            .iter()
            .flat_map(|l| l.points.iter().copied())
            .max()
            .unwrap_or(0),
    );
    let x = |i: usize| LEFT + (WIDTH - LEFT - 4.0) * i as f64 / (n - 1) as f64;
    let y = |v: u64| TOP + (HEIGHT - TOP - BOTTOM) * (1.0 - v as f64 / top as f64);
    let path = |points: &[u64]| {
        points
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    html! {
        figure.chart {
            svg xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {WIDTH} {HEIGHT}"))
                role="img" aria-label=(title) {
                title { (title) }
                @for v in [0, top / 2, top] {
                    line.grid x1=(LEFT) x2=(WIDTH - 4.0) y1=(y(v)) y2=(y(v)) {}
                    text.axis x=(LEFT - 6.0) y=(y(v) + 4.0) text-anchor="end" { (v) }
                }
                @for (i, label) in x_labels {
                    text.axis x=(x(*i)) y=(HEIGHT - 6.0) text-anchor="middle" { (label) }
                }
                @for l in lines {
                    polyline class=(format!("s-{}", l.name)) fill="none" stroke-width="2"
                        points=(path(l.points)) {}
                }
            }
            figcaption.legend {
                @for l in lines {
                    span.key { span class=(format!("swatch s-{}", l.name)) {} (l.name) }
                }
            }
        }
    }
}

/// A bar's part: its series, where it starts and its width.
type Segment<'a> = (&'a str, f64, f64);

/// Horizontal stacked bars, one per row (its label, then a value per series of `names`, in
/// order), sharing one scale.
pub fn bars(title: &str, names: &[&str], rows: &[(String, Vec<u64>)]) -> Markup {
    const ROW: f64 = 20.0;
    const LABEL: f64 = 200.0;
    let height = ROW * rows.len().max(1) as f64 + 4.0;
    let top = nice_max(rows.iter().map(|(_, v)| v.iter().sum()).max().unwrap_or(0));
    let scale = (WIDTH - LABEL - 60.0) / top as f64;
    // Each row's segments and where the row ends.
    let laid: Vec<(Vec<Segment>, f64)> = rows
        .iter()
        .map(|(_, values)| {
            let mut x = LABEL;
            let mut segments = Vec::new();
            for (name, v) in names.iter().zip(values) {
                let w = *v as f64 * scale;
                if *v > 0 {
                    segments.push((*name, x, w));
                }
                x += w;
            }
            (segments, x)
        })
        .collect();
    html! {
        figure.chart {
            svg xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {WIDTH} {height}"))
                role="img" aria-label=(title) {
                title { (title) }
                @for (i, ((label, values), (segments, end))) in rows.iter().zip(&laid).enumerate() {
                    @let y = 2.0 + ROW * i as f64;
                    text.axis x=(LABEL - 6.0) y=(y + 13.0) text-anchor="end" { (label) }
                    @for (name, x, w) in segments {
                        rect class=(format!("s-{name}")) x=(format!("{x:.1}")) y=(y + 2.0)
                            width=(format!("{w:.1}")) height=(ROW - 6.0) {}
                    }
                    text.axis x=(format!("{:.1}", end + 4.0)) y=(y + 13.0) { (values.iter().sum::<u64>()) }
                }
            }
            figcaption.legend {
                @for name in names {
                    span.key { span class=(format!("swatch s-{name}")) {} (name) }
                }
            }
        }
    }
}

/// A round number at or above `max` for the top of the y axis (at least 2, so the middle
/// line is a whole number).
pub fn nice_max(max: u64) -> u64 {
    let max = max.max(2);
    let magnitude = 10u64.pow(max.ilog10());
    for step in [1, 2, 5, 10] {
        let top = step * magnitude;
        if top >= max && top.is_multiple_of(2) {
            return top;
        }
    }
    10 * magnitude
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_axis_ends_at_a_round_number() {
        assert_eq!(nice_max(0), 2);
        assert_eq!(nice_max(3), 10);
        assert_eq!(nice_max(17), 20);
        assert_eq!(nice_max(20), 20);
        assert_eq!(nice_max(430), 500);
        assert_eq!(nice_max(999), 1000);
    }

    #[test]
    fn a_chart_has_a_line_per_series_and_no_script() {
        let svg = lines(
            "t<script>",
            &[
                Line {
                    name: "delivered",
                    points: &[1, 2, 3],
                },
                Line {
                    name: "bounced",
                    points: &[0, 0, 1],
                },
            ],
            &[(0, "-3m".into())],
        )
        .into_string();
        assert_eq!(svg.matches("<polyline").count(), 2, "{svg}");
        assert!(svg.contains("class=\"s-delivered\""), "{svg}");
        assert!(!svg.contains("<script"), "{svg}");
    }

    #[test]
    fn bars_stack_each_rows_values_and_escape_labels() {
        let svg = bars(
            "by destination",
            &["delivered", "bounced"],
            &[
                ("<b>x.test</b>".into(), vec![3, 1]),
                ("y.test".into(), vec![0, 2]),
            ],
        )
        .into_string();
        assert_eq!(svg.matches("<rect").count(), 3, "{svg}");
        assert!(svg.contains("&lt;b&gt;x.test"), "{svg}");
    }
}
