package render

import (
	"fmt"
	"regexp"
	"strconv"
)

// slideBox grows a drawing of w by h points to the 16:9 slide ratio. It
// returns the new size and the margins added on the left and at the top,
// which centre the drawing. Graphviz's ratio attribute only stretches a
// layout approximately, because the title and the pad are added after it.
func slideBox(w, h float64) (width, height, left, top float64) {
	width, height = w, h
	if h/w > slideRatio {
		width = h / slideRatio
	} else {
		height = w * slideRatio
	}
	return width, height, (width - w) / 2, (height - h) / 2
}

// svgRoot matches the size attributes of the svg element Graphviz writes.
var svgRoot = regexp.MustCompile(`<svg width="[0-9.]+pt" height="[0-9.]+pt"\s+viewBox="([-0-9.]+) ([-0-9.]+) ([0-9.]+) ([0-9.]+)"`)

// fitSVG widens Graphviz's SVG to the slide ratio, centring the drawing on
// a white background, as drawPNG does for the PNG.
func fitSVG(svg []byte) ([]byte, error) {
	m := svgRoot.FindSubmatchIndex(svg)
	if m == nil {
		return nil, fmt.Errorf("finding the svg element in graphviz output")
	}
	var box [4]float64
	for i := range box {
		v, err := strconv.ParseFloat(string(svg[m[2+2*i]:m[3+2*i]]), 64)
		if err != nil {
			return nil, fmt.Errorf("parsing svg viewBox: %w", err)
		}
		box[i] = v
	}
	width, height, left, top := slideBox(box[2], box[3])
	x, y := box[0]-left, box[1]-top
	root := fmt.Sprintf(`<svg width="%.2fpt" height="%.2fpt" viewBox="%.2f %.2f %.2f %.2f"`, width, height, x, y, width, height)
	background := fmt.Sprintf(`<rect x="%.2f" y="%.2f" width="%.2f" height="%.2f" fill="white"/>`, x, y, width, height)

	end := m[1]
	for end < len(svg) && svg[end] != '>' {
		end++
	}
	if end == len(svg) {
		return nil, fmt.Errorf("finding the end of the svg element in graphviz output")
	}
	out := make([]byte, 0, len(svg)+len(root)+len(background))
	out = append(out, svg[:m[0]]...)
	out = append(out, root...)
	out = append(out, svg[m[1]:end+1]...)
	out = append(out, '\n')
	out = append(out, background...)
	out = append(out, svg[end+1:]...)
	return out, nil
}
