//! Terminal tables drawn with `comfy-table` in the look of Python rich's heavy-head box (upstream prints
//! its reports with rich), fitted to the terminal width.
//!
//! Width: a table fits `COLUMNS` when that is set to a positive number (as rich and Python's `shutil` read
//! it), else the terminal's width when stdout is a terminal, else nothing: piped output is never wrapped,
//! so scripts and `grep` always see whole rows. Colour: only when stdout is a terminal and `NO_COLOR` is
//! unset or empty.
use comfy_table::{Attribute, Cell, CellAlignment, ColumnConstraint, ContentArrangement, Row, TableStyle, Width};
use comfy_table::{ContentLineStyle, LineStyle};
use std::io::{self, IsTerminal};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

pub use comfy_table::Color;

/// Where a table is going: whether it may use colour, and the width it must fit (`None`: any width).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Term {
    pub color: bool,
    pub width: Option<usize>,
}

impl Term {
    /// Stdout as it is now (see the module documentation).
    pub fn stdout() -> Self {
        Term { color: stdout_color(), width: stdout_width() }
    }

    /// No colour, no width limit: what a pipe gets.
    #[cfg(test)]
    pub const PLAIN: Term = Term { color: false, width: None };

    /// No colour, fitted to `width` columns.
    #[cfg(test)]
    pub fn width(width: usize) -> Self {
        Term { color: false, width: Some(width) }
    }
}

/// Whether stdout should get ANSI colour: a terminal, and `NO_COLOR` unset or empty.
pub fn stdout_color() -> bool {
    io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The width stdout's tables must fit: `COLUMNS` if it is a positive number, else the terminal's width
/// when stdout is a terminal, else `None` (a pipe or file: no wrapping).
pub fn stdout_width() -> Option<usize> {
    if let Some(columns) = std::env::var("COLUMNS").ok().and_then(|v| v.trim().parse::<usize>().ok())
        && columns > 0
    {
        return Some(columns);
    }
    if !io::stdout().is_terminal() {
        return None;
    }
    crossterm::terminal::size().ok().map(|(w, _)| usize::from(w)).filter(|w| *w > 0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
    Center,
}

#[derive(Debug, Clone)]
pub struct Column {
    pub header: String,
    /// The header used once the table has to shrink (a line break stacks it, as rich wraps headers).
    pub compact_header: Option<String>,
    pub align: Align,
    /// Colour of body cells when colour is on.
    pub color: Option<Color>,
    /// Text that may wrap onto several lines (names, messages); other columns (numbers) never break.
    pub wrap: bool,
    /// A column the table drops, as a last resort, to fit the width (the caller says what was dropped).
    pub optional: bool,
    /// The widest a wrapping column gets, whatever the width: longer text wraps.
    pub max_width: Option<usize>,
}

impl Column {
    pub fn new(header: impl Into<String>, align: Align) -> Self {
        Column {
            header: header.into(),
            compact_header: None,
            align,
            color: None,
            wrap: false,
            optional: false,
            max_width: None,
        }
    }

    pub fn colored(mut self, color: Color) -> Self {
        self.color = Some(color);
        self
    }

    /// The content may wrap (or, in a single-line table, be cut with `…`) to fit the width.
    pub fn wrapping(mut self) -> Self {
        self.wrap = true;
        self
    }

    pub fn compact(mut self, header: impl Into<String>) -> Self {
        self.compact_header = Some(header.into());
        self
    }

    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }

    pub fn max_width(mut self, width: usize) -> Self {
        self.max_width = Some(width);
        self
    }
}

/// How a table is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Frame {
    /// rich's `box.HEAVY_HEAD`: heavy lines around the header, light lines around the body.
    #[default]
    HeavyHead,
    /// No lines and no header: aligned `key  value` rows indented by two spaces (rich's `box=None`
    /// key/value grid).
    KeyValue,
}

/// A table with an optional title and an optional footer row set off by a rule (rich's `add_section`).
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub title: Option<String>,
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<String>>,
    pub footer: Option<Vec<String>>,
    pub frame: Frame,
    /// Every row stays one line: text that does not fit is cut with `…` (a live view redrawn in place).
    pub single_line_rows: bool,
}

/// A rendered table, and the headers of optional columns left out to fit the width.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub text: String,
    pub hidden: Vec<String>,
}

/// The narrowest a wrapping column is squeezed to.
const MIN_WRAP_WIDTH: usize = 4;
/// A wrapping column is squeezed below its longest word (cutting it) only down to this width.
const MAX_UNBROKEN: usize = 16;

/// rich's HEAVY_HEAD box. comfy-table has no rule before the last row only: [`Table::render`] asks for a
/// rule between every row and keeps just the last one.
const HEAVY_HEAD: TableStyle = TableStyle::new()
    .top_border(LineStyle::new('┏', '━', '┳', '┓'))
    .header_lines(ContentLineStyle::new('┃', '┃', '┃'))
    .header_separator(LineStyle::new('┡', '━', '╇', '┩'))
    .content_lines(ContentLineStyle::new('│', '│', '│'))
    .bottom_border(LineStyle::new('└', '─', '┴', '┘'));
const FOOTER_RULE: LineStyle = LineStyle::new('├', '─', '┼', '┤');

/// One way to lay the columns out: which header each uses, and which are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Full,
    CompactHeaders,
    WithoutOptional,
}

impl Table {
    /// The table as text, fitted to `term` as well as it can be: the full layout if it fits as it is,
    /// else with compact headers, else with compact headers and the wrapping columns wrapped, else
    /// without the optional columns (unwrapped, then wrapped).
    pub fn render(&self, term: &Term) -> String {
        self.render_fitted(term).text
    }

    /// Like [`Table::render`], also telling which optional columns were left out.
    pub fn render_fitted(&self, term: &Term) -> Rendered {
        let layout = match term.width {
            None => Layout::Full,
            Some(width) => self.choose_layout(width),
        };
        let hidden = match layout {
            Layout::WithoutOptional => self.columns.iter().filter(|c| c.optional).map(|c| c.header.clone()).collect(),
            _ => Vec::new(),
        };
        Rendered { text: self.draw(layout, term), hidden }
    }

    fn choose_layout(&self, width: usize) -> Layout {
        let mut keeping_all = vec![Layout::Full];
        if self.columns.iter().any(|c| c.compact_header.is_some()) {
            keeping_all.push(Layout::CompactHeaders);
        }
        let last = *keeping_all.last().expect("the full layout is always there");
        // (layout, whether its wrapping columns may wrap), in order of preference.
        let mut tries: Vec<(Layout, bool)> = keeping_all.iter().map(|l| (*l, false)).collect();
        tries.push((last, true));
        if self.columns.iter().any(|c| c.optional) {
            tries.extend([(Layout::WithoutOptional, false), (Layout::WithoutOptional, true)]);
        }
        let fallback = tries.last().expect("not empty").0;
        tries.into_iter().find(|(l, wrapped)| self.width_of(*l, *wrapped) <= width).map_or(fallback, |(l, _)| l)
    }

    fn shown(&self, layout: Layout) -> impl Iterator<Item = (usize, &Column)> {
        self.columns.iter().enumerate().filter(move |(_, c)| !(layout == Layout::WithoutOptional && c.optional))
    }

    fn header_of<'a>(&self, column: &'a Column, layout: Layout) -> &'a str {
        match (layout, &column.compact_header) {
            (Layout::Full, _) | (_, None) => &column.header,
            (_, Some(compact)) => compact,
        }
    }

    fn with_header(&self) -> bool {
        self.frame == Frame::HeavyHead
    }

    /// The width of this layout with every column at its content (`wrapped`: wrapping columns at their
    /// narrowest, see [`Table::bounds`]; numbers never break).
    fn width_of(&self, layout: Layout, wrapped: bool) -> usize {
        let mut total = 0;
        let mut count = 0;
        for (i, column) in self.shown(layout) {
            let (left, right) = self.padding(i);
            let (least, most) = self.bounds(i, column, layout);
            total += if wrapped { least } else { most } + left + right;
            count += 1;
        }
        match self.frame {
            Frame::HeavyHead => total + count + 1,
            Frame::KeyValue => total,
        }
    }

    /// The least and the most content width column `i` takes in this layout.
    fn bounds(&self, i: usize, column: &Column, layout: Layout) -> (usize, usize) {
        let header = if self.with_header() { text_width(self.header_of(column, layout)) } else { 0 };
        let content = self.cells(i).map(text_width).chain([header]).max().unwrap_or(0);
        if !column.wrap {
            return (content, content);
        }
        let most = column.max_width.map_or(content, |max| max.min(content));
        // As narrow as its longest unbreakable piece (a word, or a slug's part between hyphens), so
        // wrapping never cuts a word while there is another way; but no wider than MAX_UNBROKEN.
        // In single-line rows the cells are cut, not wrapped: only the header's words count.
        let header = if self.with_header() { self.header_of(column, layout) } else { "" };
        let cells = self.cells(i).filter(|_| !self.single_line_rows);
        let piece = cells.chain([header]).map(longest_piece).max().unwrap_or(0);
        (most.min(piece.clamp(MIN_WRAP_WIDTH, MAX_UNBROKEN)), most)
    }

    fn cells(&self, column: usize) -> impl Iterator<Item = &str> {
        self.rows.iter().chain(self.footer.iter()).map(move |row| row[column].as_str())
    }

    fn padding(&self, column: usize) -> (usize, usize) {
        match self.frame {
            Frame::HeavyHead => (1, 1),
            Frame::KeyValue if column == 0 => (2, 2),
            Frame::KeyValue => (0, 0),
        }
    }

    /// Draws the layout. When comfy-table had to narrow a wrapping column, the table is drawn a second
    /// time at the same widths with that column's cells broken by [`break_text`] (after `-`, `/` or `_`
    /// as well as at spaces: comfy-table only breaks at spaces and would cut `048-full-lifecycle`
    /// mid-word), or in single-line rows cut by [`cut_line`] (comfy-table would wrap, then keep only the
    /// first line).
    fn draw(&self, layout: Layout, term: &Term) -> String {
        let shown: Vec<(usize, &Column)> = self.shown(layout).collect();
        let mut lines: Vec<String> = self.comfy(layout, term, None).lines().collect();
        if let (Frame::HeavyHead, Some(_), Some(top)) = (self.frame, term.width, lines.first()) {
            // The top border shows the widths comfy-table chose: `┏━━━┳━━━━┓`.
            let widths: Vec<usize> = top
                .trim_start_matches('┏')
                .trim_end_matches('┓')
                .split('┳')
                .map(|segment| segment.chars().count().saturating_sub(2))
                .collect();
            let narrowed = shown
                .iter()
                .zip(&widths)
                .any(|((i, column), width)| column.wrap && *width < self.bounds(*i, column, layout).1);
            if narrowed && widths.len() == shown.len() {
                lines = self.comfy(layout, term, Some(&widths)).lines().collect();
            }
        }
        if self.footer.is_some() && self.frame == Frame::HeavyHead {
            // Keep only the rule before the footer (comfy-table draws one between every two rows).
            let rule = lines.iter().rposition(|l| l.starts_with('├'));
            let mut index = 0;
            lines.retain(|l| {
                let keep = !l.starts_with('├') || Some(index) == rule;
                index += 1;
                keep
            });
        }
        let mut out = String::new();
        if let Some(title) = &self.title {
            let width = lines.first().map_or(0, |l| l.width());
            for line in wrap_words(title, width.max(1)) {
                let indent = width.saturating_sub(line.width()) / 2;
                out.extend(std::iter::repeat_n(' ', indent));
                out.push_str(&line);
                out.push('\n');
            }
        }
        for line in lines {
            out.push_str(if self.frame == Frame::KeyValue { line.trim_end() } else { &line });
            out.push('\n');
        }
        out
    }

    /// The comfy-table for a layout; `widths` (content widths of the shown columns, from a first
    /// drawing) fixes the wrapping columns and pre-breaks their cells.
    fn comfy(&self, layout: Layout, term: &Term, widths: Option<&[usize]>) -> comfy_table::Table {
        let mut table = comfy_table::Table::new();
        table.force_no_tty();
        if term.color {
            table.enforce_styling();
        }
        let mut style = match self.frame {
            Frame::HeavyHead => HEAVY_HEAD,
            Frame::KeyValue => TableStyle::new(),
        };
        if self.footer.is_some() && self.frame == Frame::HeavyHead {
            style.row_separator = FOOTER_RULE;
        }
        table.load_style(style);
        match term.width.and_then(|w| u16::try_from(w).ok()) {
            Some(width) => table.set_width(width).set_content_arrangement(ContentArrangement::Dynamic),
            None => table.set_content_arrangement(ContentArrangement::Disabled),
        };

        let shown: Vec<(usize, &Column)> = self.shown(layout).collect();
        if self.with_header() {
            let header: Vec<Cell> = shown
                .iter()
                .enumerate()
                .map(|(position, (_, c))| {
                    let text = match widths {
                        Some(widths) if c.wrap => break_text(self.header_of(c, layout), widths[position]),
                        _ => self.header_of(c, layout).to_owned(),
                    };
                    styled(Cell::new(text), term.color, None, true)
                })
                .collect();
            table.set_header(header);
        }
        let row = |cells: &[String], bold: bool| {
            let mut row = Row::from(
                shown
                    .iter()
                    .enumerate()
                    .map(|(position, (i, c))| {
                        let text = match widths {
                            Some(widths) if c.wrap && self.single_line_rows => cut_line(&cells[*i], widths[position]),
                            Some(widths) if c.wrap => break_text(&cells[*i], widths[position]),
                            _ => cells[*i].clone(),
                        };
                        styled(Cell::new(text), term.color, c.color, bold)
                    })
                    .collect::<Vec<_>>(),
            );
            if self.single_line_rows {
                row.max_height(1);
            }
            row
        };
        for cells in &self.rows {
            table.add_row(row(cells, false));
        }
        if let Some(footer) = &self.footer {
            table.add_row(row(footer, true));
        }
        for (position, (i, column)) in shown.iter().enumerate() {
            // Columns exist once a header or a row names them; a headerless empty table has none.
            let Some(target) = table.column_mut(position) else { break };
            target.set_cell_alignment(match column.align {
                Align::Left => CellAlignment::Left,
                Align::Right => CellAlignment::Right,
                Align::Center => CellAlignment::Center,
            });
            let (left, right) = self.padding(*i);
            target.set_padding((left as u16, right as u16));
            // comfy-table's boundaries count the padding.
            let fixed = |width: usize| Width::Fixed(u16::try_from(width + left + right).unwrap_or(u16::MAX));
            let (least, most) = self.bounds(*i, column, layout);
            target.set_constraint(match (column.wrap, widths) {
                (false, _) => ColumnConstraint::ContentWidth,
                (true, Some(widths)) => ColumnConstraint::Absolute(fixed(widths[position])),
                (true, None) => ColumnConstraint::Boundaries { lower: fixed(least), upper: fixed(most) },
            });
        }
        table
    }
}

fn styled(cell: Cell, color: bool, tint: Option<Color>, bold: bool) -> Cell {
    if !color {
        return cell;
    }
    let cell = match tint {
        Some(tint) => cell.fg(tint),
        None => cell,
    };
    if bold { cell.add_attribute(Attribute::Bold) } else { cell }
}

/// The display width of the widest line of `text`.
fn text_width(text: &str) -> usize {
    text.lines().map(UnicodeWidthStr::width).max().unwrap_or(0)
}

/// A line of prose (a note under a table) wrapped at spaces to `term`'s width, ending in a newline.
pub fn fit_line(text: &str, term: &Term) -> String {
    let lines = match term.width {
        Some(width) => wrap_words(text, width),
        None => vec![text.to_owned()],
    };
    lines.into_iter().map(|l| l + "\n").collect()
}

/// The first line of `text`, cut with `…` to at most `width` columns.
pub fn cut_line(text: &str, width: usize) -> String {
    let line = text.lines().next().unwrap_or_default();
    if line.width() <= width {
        return line.to_owned();
    }
    let mut out = String::new();
    let mut used = 0;
    for ch in line.chars() {
        let w = ch.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        out.push(ch);
        used += w;
    }
    out.truncate(out.trim_end().len());
    out.push('…');
    out
}

/// The widest piece of `text` that [`break_text`] keeps on one line.
fn longest_piece(text: &str) -> usize {
    text.split(['\n', ' '])
        .flat_map(|word| word.split_inclusive(['-', '/', '_']))
        .map(UnicodeWidthStr::width)
        .max()
        .unwrap_or(0)
}

/// Breaks each line of `text` into lines of at most `width` columns: at spaces (dropped), after `-`,
/// `/` and `_` (kept at the end of the line), and inside a word only when it is longer than a line.
fn break_text(text: &str, width: usize) -> String {
    let width = width.max(1);
    let mut out: Vec<String> = Vec::new();
    for line in text.split('\n') {
        let mut current = String::new();
        // Pieces end where a line may break: after a space, `-`, `/` or `_`.
        for piece in line.split_inclusive([' ', '-', '/', '_']) {
            if format!("{current}{piece}").trim_end().width() <= width {
                current.push_str(piece);
                continue;
            }
            if !current.trim().is_empty() {
                out.push(current.trim_end().to_owned());
            }
            current = String::new();
            for ch in piece.trim_start_matches(' ').chars() {
                if current.trim_end().width() + ch.width().unwrap_or(0) > width && !current.trim().is_empty() {
                    out.push(current.trim_end().to_owned());
                    current = String::new();
                }
                if !(current.is_empty() && ch == ' ') {
                    current.push(ch);
                }
            }
        }
        out.push(current.trim_end().to_owned());
    }
    out.join("\n")
}

/// Splits `text` into lines of at most `width` columns at spaces (a longer word gets a line of its own,
/// cut where it must be), as rich wraps a title to its table.
fn wrap_words(text: &str, width: usize) -> Vec<String> {
    if text.width() <= width {
        return vec![text.to_owned()];
    }
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let needed = if line.is_empty() { word.width() } else { line.width() + 1 + word.width() };
        if needed <= width {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
            continue;
        }
        if !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        for ch in word.chars() {
            if line.width() + ch.width().unwrap_or(0) > width && !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            line.push(ch);
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost_like() -> Table {
        Table {
            title: Some("T".into()),
            columns: vec![
                Column::new("Group", Align::Left),
                Column::new("N", Align::Right),
                Column::new("E", Align::Center),
            ],
            rows: vec![vec!["é".into(), "1,000".into(), "~".into()], vec!["b".into(), "2".into(), "".into()]],
            footer: Some(vec!["TOTAL".into(), "1,002".into(), "".into()]),
            ..Table::default()
        }
    }

    #[test]
    fn renders_like_rich_heavy_head() {
        let expected = "          T\n\
┏━━━━━━━┳━━━━━━━┳━━━┓
┃ Group ┃     N ┃ E ┃
┡━━━━━━━╇━━━━━━━╇━━━┩
│ é     │ 1,000 │ ~ │
│ b     │     2 │   │
├───────┼───────┼───┤
│ TOTAL │ 1,002 │   │
└───────┴───────┴───┘
";
        assert_eq!(cost_like().render(&Term::PLAIN), expected);
        // Wide enough: the same table.
        assert_eq!(cost_like().render(&Term::width(21)), expected);
    }

    #[test]
    fn colour_only_when_asked() {
        let plain = cost_like().render(&Term::PLAIN);
        assert!(!plain.contains('\x1b'));
        let colored = cost_like().render(&Term { color: true, width: None });
        assert!(colored.contains("\x1b["), "{colored}");
        assert_eq!(strip_ansi(&colored), plain);
    }

    fn strip_ansi(text: &str) -> String {
        let mut out = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    fn report(names: &[&str]) -> Table {
        Table {
            title: Some("Cost Report (grouped by feature)".into()),
            columns: vec![
                Column::new("Group", Align::Left).wrapping(),
                Column::new("Input Tokens", Align::Right).compact("Input\nTokens"),
                Column::new("Cache Read", Align::Right).compact("Cache\nRead").optional(),
                Column::new("Estimated", Align::Center).compact("Est."),
            ],
            rows: names.iter().map(|n| vec![(*n).to_owned(), "76,330,500".into(), "0".into(), "~".into()]).collect(),
            footer: Some(vec!["TOTAL".into(), "76,330,500".into(), "0".into(), "".into()]),
            ..Table::default()
        }
    }

    fn widest_line(text: &str) -> usize {
        text.lines().map(UnicodeWidthStr::width).max().unwrap_or(0)
    }

    #[test]
    fn shrinks_headers_then_drops_optional_columns_then_wraps() {
        let table = report(&["048-full-lifecycle-telemetry-events"]);
        let full = table.render_fitted(&Term::PLAIN);
        assert_eq!(widest_line(&full.text), 79, "{}", full.text);
        assert!(full.hidden.is_empty());

        // Stacked headers: Input/Tokens, Cache/Read, Est.
        let compact = table.render_fitted(&Term::width(70));
        assert!(compact.text.contains("┃      Input ┃") && compact.text.contains("┃     Tokens ┃"), "{}", compact.text);
        assert!(widest_line(&compact.text) <= 70, "{}", compact.text);
        assert!(compact.hidden.is_empty());

        // Then without the optional column, the long name wrapped.
        let narrow = table.render_fitted(&Term::width(40));
        assert_eq!(narrow.hidden, vec!["Cache Read".to_owned()]);
        assert!(widest_line(&narrow.text) <= 40, "{}", narrow.text);
        assert!(!narrow.text.contains("Cache"), "{}", narrow.text);
        assert!(narrow.text.contains("76,330,500"), "numbers never break: {}", narrow.text);
        // Only one rule in the body: before the footer.
        assert_eq!(narrow.text.matches('├').count(), 1, "{}", narrow.text);
        // The title wraps to the table.
        for line in narrow.text.lines() {
            assert!(line.width() <= 40, "{line:?}");
        }
    }

    #[test]
    fn key_value_frame_is_an_indented_grid() {
        let table = Table {
            columns: vec![Column::new("", Align::Left), Column::new("", Align::Left).wrapping()],
            rows: vec![
                vec!["Queue".into(), "4 event(s)".into()],
                vec!["Config file".into(), "/a/long/path with some words in it".into()],
            ],
            frame: Frame::KeyValue,
            ..Table::default()
        };
        assert_eq!(
            table.render(&Term::PLAIN),
            "  Queue        4 event(s)\n  Config file  /a/long/path with some words in it\n"
        );
        let narrow = table.render(&Term::width(30));
        assert!(widest_line(&narrow) <= 30, "{narrow}");
        assert!(narrow.starts_with("  Queue        4 event(s)\n  Config file  /a/long/path"), "{narrow}");
        assert!(narrow.lines().nth(2).unwrap().starts_with("               "), "{narrow}");
    }

    #[test]
    fn empty_tables_render() {
        let mut table = cost_like();
        table.rows.clear();
        table.footer = None;
        assert!(table.render(&Term::width(10)).contains("┃ Group ┃"));
        let grid = Table { columns: vec![Column::new("", Align::Left)], frame: Frame::KeyValue, ..Table::default() };
        assert_eq!(grid.render(&Term::PLAIN), "");
    }

    #[test]
    fn single_line_rows_are_cut_not_wrapped() {
        let table = Table {
            columns: vec![Column::new("WP", Align::Left), Column::new("Note", Align::Left).wrapping()],
            rows: vec![vec!["WP01".into(), "a rather long note that cannot fit in the width".into()]],
            single_line_rows: true,
            ..Table::default()
        };
        let text = table.render(&Term::width(30));
        assert_eq!(text.lines().count(), 5, "{text}");
        assert!(text.contains('…'), "{text}");
        assert!(widest_line(&text) <= 30, "{text}");
    }

    #[test]
    fn text_breaks_after_hyphens_and_at_spaces() {
        assert_eq!(break_text("048-full-lifecycle-telemetry-events", 12), "048-full-\nlifecycle-\ntelemetry-\nevents");
        assert_eq!(break_text("in_progress (0)", 8), "in_\nprogress\n(0)");
        assert_eq!(break_text("WP01 Storage layer", 28), "WP01 Storage layer");
        assert_eq!(break_text("abcdefghij", 4), "abcd\nefgh\nij");
        assert_eq!(break_text("two\nlines here", 5), "two\nlines\nhere");
        assert_eq!(break_text("日本語テキスト", 4), "日本\n語テ\nキス\nト");
        assert_eq!(longest_piece("048-full-lifecycle x"), 9);
        assert_eq!(
            wrap_words("Cost Report (grouped by feature, role)", 20),
            ["Cost Report (grouped", "by feature, role)"]
        );
    }
}
