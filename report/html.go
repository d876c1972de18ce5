package report

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// HTMLReport is a self-contained HTML page for a run: headings, paragraphs,
// tables, inline SVG plots and preformatted sample text, in the order added.
// All text goes through html/template, so model output and other untrusted
// text cannot inject markup. Build it with the Add methods, then Write.
type HTMLReport struct {
	Title  string
	blocks []htmlBlock
}

// htmlBlock is one element of the page; Kind selects which fields are used.
type htmlBlock struct {
	Kind    string // "h2", "p", "table", "svg", "pre"
	Text    string
	Headers []string
	Rows    [][]string
	SVG     template.HTML // produced by this package's renderers only
}

// AddHeading adds a section heading.
func (r *HTMLReport) AddHeading(text string) {
	r.blocks = append(r.blocks, htmlBlock{Kind: "h2", Text: text})
}

// AddParagraph adds a paragraph of plain text.
func (r *HTMLReport) AddParagraph(text string) {
	r.blocks = append(r.blocks, htmlBlock{Kind: "p", Text: text})
}

// AddTable adds a table with a header row.
func (r *HTMLReport) AddTable(headers []string, rows [][]string) {
	r.blocks = append(r.blocks, htmlBlock{Kind: "table", Headers: headers, Rows: rows})
}

// AddPlot renders p to SVG and embeds it inline.
func (r *HTMLReport) AddPlot(p *Plot) {
	r.blocks = append(r.blocks, htmlBlock{Kind: "svg", SVG: inlineSVG(p.SVG())})
}

// AddBarChart renders b to SVG and embeds it inline.
func (r *HTMLReport) AddBarChart(b *BarChart) {
	r.blocks = append(r.blocks, htmlBlock{Kind: "svg", SVG: inlineSVG(b.SVG())})
}

// AddSample adds a titled block of preformatted text, e.g. a prompt and a
// model's completion; whitespace is preserved and markup is escaped.
func (r *HTMLReport) AddSample(title, text string) {
	r.blocks = append(r.blocks, htmlBlock{Kind: "pre", Headers: []string{title}, Text: text})
}

// inlineSVG marks SVG from this package's renderers (which XML-escape all
// text they embed) as safe to inline.
func inlineSVG(svg []byte) template.HTML {
	return template.HTML(svg)
}

var htmlTmpl = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{.Title}}</title>
<style>
body { font-family: sans-serif; max-width: 960px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 4px 10px; text-align: left; }
th { background: #f3f3f3; }
pre { background: #f7f7f7; border: 1px solid #ddd; padding: 0.8em; white-space: pre-wrap; word-wrap: break-word; }
.sample h3 { font-size: 0.95em; margin-bottom: 0.2em; }
svg { max-width: 100%; height: auto; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
{{range .Blocks}}{{if eq .Kind "h2"}}<h2>{{.Text}}</h2>
{{else if eq .Kind "p"}}<p>{{.Text}}</p>
{{else if eq .Kind "table"}}<table>
<thead><tr>{{range .Headers}}<th>{{.}}</th>{{end}}</tr></thead>
<tbody>
{{range .Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</tbody>
</table>
{{else if eq .Kind "svg"}}<figure>{{.SVG}}</figure>
{{else if eq .Kind "pre"}}<div class="sample">{{with index .Headers 0}}<h3>{{.}}</h3>{{end}}<pre>{{.Text}}</pre></div>
{{end}}{{end}}</body>
</html>
`))

// Write renders the page to w.
func (r *HTMLReport) Write(w io.Writer) error {
	var buf bytes.Buffer
	err := htmlTmpl.Execute(&buf, struct {
		Title  string
		Blocks []htmlBlock
	}{r.Title, r.blocks})
	if err != nil {
		return fmt.Errorf("report: render HTML %q: %w", r.Title, err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("report: write HTML %q: %w", r.Title, err)
	}
	return nil
}

// WriteFile renders the page to path, replacing it atomically.
func (r *HTMLReport) WriteFile(path string) error {
	var buf bytes.Buffer
	if err := r.Write(&buf); err != nil {
		return err
	}
	return writeFileAtomic(path, buf.Bytes())
}

// writeFileAtomic writes data to a temporary file beside path and renames it
// into place, so readers never see a partial file.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("report: write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("report: write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("report: write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("report: write %s: %w", path, err)
	}
	return nil
}

// WriteSVGFile writes an SVG document (from Plot.SVG or BarChart.SVG) to path.
func WriteSVGFile(path string, svg []byte) error {
	return writeFileAtomic(path, svg)
}

// MarkdownTable renders a GitHub-flavoured markdown table. Pipes and
// backslashes in cells are escaped and newlines become spaces; short rows are
// padded with empty cells.
func MarkdownTable(headers []string, rows [][]string) string {
	cell := func(s string) string {
		s = strings.ReplaceAll(s, `\`, `\\`)
		s = strings.ReplaceAll(s, "|", `\|`)
		s = strings.ReplaceAll(s, "\r\n", " ")
		s = strings.ReplaceAll(s, "\n", " ")
		return strings.ReplaceAll(s, "\r", " ")
	}
	cols := len(headers)
	for _, r := range rows {
		cols = max(cols, len(r))
	}
	if cols == 0 {
		return ""
	}
	var b strings.Builder
	line := func(cells []string) {
		b.WriteByte('|')
		for i := 0; i < cols; i++ {
			c := ""
			if i < len(cells) {
				c = cell(cells[i])
			}
			b.WriteString(" " + c + " |")
		}
		b.WriteByte('\n')
	}
	line(headers)
	b.WriteByte('|')
	for i := 0; i < cols; i++ {
		b.WriteString("---|")
	}
	b.WriteByte('\n')
	for _, r := range rows {
		line(r)
	}
	return b.String()
}
