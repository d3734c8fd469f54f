package sim

// A minimal H.264 (ISO/IEC 14496-10) encoder: just enough to make a real,
// decodable stream of any size in a few bytes per frame, so that the
// simulator's outputs have the duration and dimensions a generation asked
// for. It writes the Constrained Baseline profile with CAVLC:
//
//   - an IDR picture is one solid colour: its first macroblock is I_PCM
//     (the colour's raw samples), and every other one is Intra 16x16 with
//     DC prediction and no residual, which copies the colour of its
//     neighbours, so the whole picture takes about one byte per macroblock;
//   - a P picture skips every macroblock (one mb_skip_run): it repeats the
//     picture before it in a few bytes.

// bitWriter writes an RBSP bit by bit, most significant bit first.
type bitWriter struct {
	buf  []byte
	cur  byte
	nbit uint // bits used in cur
}

// u writes the n low bits of v (n ≤ 64).
func (w *bitWriter) u(n uint, v uint64) {
	for i := int(n) - 1; i >= 0; i-- {
		w.cur = w.cur<<1 | byte(v>>uint(i)&1)
		if w.nbit++; w.nbit == 8 {
			w.buf = append(w.buf, w.cur)
			w.cur, w.nbit = 0, 0
		}
	}
}

// flag writes one bit.
func (w *bitWriter) flag(b bool) {
	if b {
		w.u(1, 1)
	} else {
		w.u(1, 0)
	}
}

// ue writes v as an unsigned Exp-Golomb code (ue(v)).
func (w *bitWriter) ue(v uint32) {
	x := uint64(v) + 1
	n := uint(0)
	for x>>n > 1 {
		n++
	}
	w.u(n, 0)
	w.u(n+1, x)
}

// se writes v as a signed Exp-Golomb code (se(v)).
func (w *bitWriter) se(v int32) {
	if v > 0 {
		w.ue(uint32(2*v - 1))
	} else {
		w.ue(uint32(-2 * v))
	}
}

// align writes zero bits up to the next byte boundary.
func (w *bitWriter) align() {
	if w.nbit > 0 {
		w.u(8-w.nbit, 0)
	}
}

// rbsp ends the RBSP with rbsp_trailing_bits and returns it.
func (w *bitWriter) rbsp() []byte {
	w.u(1, 1)
	w.align()
	return w.buf
}

// nalUnit wraps an RBSP in a NAL unit of the given header byte, with
// emulation prevention bytes (no 00 00 0x, x ≤ 3, in its payload).
func nalUnit(header byte, rbsp []byte) []byte {
	return escape(append(make([]byte, 0, 1+len(rbsp)+len(rbsp)/64), header), rbsp)
}

// escape appends rbsp to dst with emulation prevention bytes, counting from
// the start of rbsp: dst must be empty or end with a byte other than 0.
func escape(dst, rbsp []byte) []byte {
	zeros := 0
	for _, b := range rbsp {
		if zeros == 2 && b <= 3 {
			dst = append(dst, 3)
			zeros = 0
		}
		dst = append(dst, b)
		if b == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return dst
}

// NAL unit header bytes: forbidden_zero_bit, nal_ref_idc, nal_unit_type.
const (
	nalSPS = 3<<5 | 7
	nalPPS = 3<<5 | 8
	nalIDR = 3<<5 | 5
	nalP   = 2<<5 | 1
)

const (
	profileBaseline = 66
	// constraint_set0_flag and constraint_set1_flag: Constrained Baseline.
	constraintFlags = 0xc0
	// log2MaxFrameNum bounds frame_num, which counts the pictures since
	// the last IDR: a GOP is at most a second of frames.
	log2MaxFrameNum = 8
)

// yuv is a colour in 8-bit Y′CbCr, the samples of a solid picture.
type yuv struct{ y, cb, cr byte }

// stream is an H.264 stream of width×height pictures at fps frames a second.
type stream struct {
	width, height int
	fps           int
	mbW, mbH      int // in macroblocks
}

func newStream(width, height, fps int) stream {
	return stream{width: width, height: height, fps: fps, mbW: (width + 15) / 16, mbH: (height + 15) / 16}
}

// level returns the lowest level_idc whose frame size and macroblock rate
// (Table A-1) take the stream.
func (s stream) level() byte {
	fs := s.mbW * s.mbH
	for _, l := range []struct {
		idc        byte
		maxFS, mbs int
	}{
		{30, 1620, 40500}, {31, 3600, 108000}, {32, 5120, 216000}, {40, 8192, 245760},
		{42, 8704, 522240}, {50, 22080, 589824}, {51, 36864, 983040}, {52, 36864, 2073600},
	} {
		if fs <= l.maxFS && fs*s.fps <= l.mbs {
			return l.idc
		}
	}
	return 60 // up to 8192x4320
}

// sps returns the sequence parameter set NAL unit.
func (s stream) sps() []byte {
	var w bitWriter
	w.u(8, profileBaseline)
	w.u(8, constraintFlags)
	w.u(8, uint64(s.level()))
	w.ue(0)                   // seq_parameter_set_id
	w.ue(log2MaxFrameNum - 4) // log2_max_frame_num_minus4
	w.ue(2)                   // pic_order_cnt_type: output order is decoding order
	w.ue(1)                   // max_num_ref_frames
	w.flag(false)             // gaps_in_frame_num_value_allowed_flag
	w.ue(uint32(s.mbW - 1))   // pic_width_in_mbs_minus1
	w.ue(uint32(s.mbH - 1))   // pic_height_in_map_units_minus1
	w.flag(true)              // frame_mbs_only_flag
	w.flag(true)              // direct_8x8_inference_flag
	right, bottom := s.mbW*16-s.width, s.mbH*16-s.height
	w.flag(right != 0 || bottom != 0) // frame_cropping_flag
	if right != 0 || bottom != 0 {
		// Offsets count pairs of luma samples in 4:2:0.
		w.ue(0)
		w.ue(uint32(right / 2))
		w.ue(0)
		w.ue(uint32(bottom / 2))
	}
	w.flag(true)             // vui_parameters_present_flag
	w.flag(false)            // aspect_ratio_info_present_flag: square pixels
	w.flag(false)            // overscan_info_present_flag
	w.flag(false)            // video_signal_type_present_flag
	w.flag(false)            // chroma_loc_info_present_flag
	w.flag(true)             // timing_info_present_flag
	w.u(32, 1)               // num_units_in_tick
	w.u(32, uint64(2*s.fps)) // time_scale: a frame is two ticks
	w.flag(true)             // fixed_frame_rate_flag
	w.flag(false)            // nal_hrd_parameters_present_flag
	w.flag(false)            // vcl_hrd_parameters_present_flag
	w.flag(false)            // pic_struct_present_flag
	w.flag(true)             // bitstream_restriction_flag
	w.flag(true)             // motion_vectors_over_pic_boundaries_flag
	w.ue(0)                  // max_bytes_per_pic_denom
	w.ue(0)                  // max_bits_per_mb_denom
	w.ue(16)                 // log2_max_mv_length_horizontal
	w.ue(16)                 // log2_max_mv_length_vertical
	w.ue(0)                  // max_num_reorder_frames: no delay
	w.ue(1)                  // max_dec_frame_buffering
	return nalUnit(nalSPS, w.rbsp())
}

// pps returns the picture parameter set NAL unit.
func (s stream) pps() []byte {
	var w bitWriter
	w.ue(0)       // pic_parameter_set_id
	w.ue(0)       // seq_parameter_set_id
	w.flag(false) // entropy_coding_mode_flag: CAVLC
	w.flag(false) // bottom_field_pic_order_in_frame_present_flag
	w.ue(0)       // num_slice_groups_minus1
	w.ue(0)       // num_ref_idx_l0_default_active_minus1
	w.ue(0)       // num_ref_idx_l1_default_active_minus1
	w.flag(false) // weighted_pred_flag
	w.u(2, 0)     // weighted_bipred_idc
	w.se(0)       // pic_init_qp_minus26
	w.se(0)       // pic_init_qs_minus26
	w.se(0)       // chroma_qp_index_offset
	w.flag(false) // deblocking_filter_control_present_flag
	w.flag(false) // constrained_intra_pred_flag
	w.flag(false) // redundant_pic_cnt_present_flag
	return nalUnit(nalPPS, w.rbsp())
}

// Macroblock types in an I slice (Table 7-11).
const (
	mbI16x16DC = 3  // I_16x16_2_0_0: DC prediction, no coded residual
	mbIPCM     = 25 // I_PCM
)

// idr returns an IDR picture of solid colour c; id is its idr_pic_id,
// which must differ between consecutive IDR pictures, and tail is
// s.idrTail().
func (s stream) idr(c yuv, id uint32, tail []byte) []byte {
	var w bitWriter
	w.ue(0)                 // first_mb_in_slice
	w.ue(7)                 // slice_type: I, as every slice of the picture
	w.ue(0)                 // pic_parameter_set_id
	w.u(log2MaxFrameNum, 0) // frame_num
	w.ue(id)                // idr_pic_id
	w.flag(false)           // no_output_of_prior_pics_flag
	w.flag(false)           // long_term_reference_flag
	w.se(0)                 // slice_qp_delta

	w.ue(mbIPCM)
	w.align() // pcm_alignment_zero_bit
	for _, p := range []struct {
		v byte
		n int
	}{{c.y, 256}, {c.cb, 64}, {c.cr, 64}} {
		for range p.n {
			w.u(8, uint64(p.v))
		}
	}
	// The PCM samples end on a byte boundary, and are not 0 (Cr is at
	// least 64): the tail follows as it was escaped on its own.
	return append(nalUnit(nalIDR, w.buf), tail...)
}

// idrTail returns the end of every IDR picture of s, escaped: the
// macroblocks after the I_PCM one, which are the same whatever its
// colour, and the RBSP trailing bits.
func (s stream) idrTail() []byte {
	var w bitWriter
	for mb := 1; mb < s.mbW*s.mbH; mb++ {
		w.ue(mbI16x16DC)
		w.ue(0) // intra_chroma_pred_mode: DC
		w.se(0) // mb_qp_delta
		// The Intra16x16DCLevel block, with no coefficients. Its
		// coeff_token table depends on nC (9.2.1), from the blocks left
		// and above: 16 in the I_PCM macroblock, 0 in the others, which
		// code no AC coefficients.
		x, y := mb%s.mbW, mb/s.mbW
		nA, nB := -1, -1
		if x > 0 {
			nA = pcmCount(mb - 1)
		}
		if y > 0 {
			nB = pcmCount(mb - s.mbW)
		}
		nC := 0
		switch {
		case nA >= 0 && nB >= 0:
			nC = (nA + nB + 1) >> 1
		case nA >= 0:
			nC = nA
		case nB >= 0:
			nC = nB
		}
		if nC >= 8 {
			w.u(6, 0b000011) // TotalCoeff 0, fixed-length table
		} else {
			w.u(1, 1) // TotalCoeff 0, 0 ≤ nC < 2
		}
	}
	return escape(nil, w.rbsp())
}

// pcmCount is the number of coefficients the neighbour rule of 9.2.1
// counts in macroblock mb of an IDR picture: 16 for I_PCM (the first one).
func pcmCount(mb int) int {
	if mb == 0 {
		return 16
	}
	return 0
}

// p returns a P picture that repeats the one before it; frameNum counts
// the pictures since the IDR.
func (s stream) p(frameNum int) []byte {
	var w bitWriter
	w.ue(0)                                                     // first_mb_in_slice
	w.ue(5)                                                     // slice_type: P, as every slice of the picture
	w.ue(0)                                                     // pic_parameter_set_id
	w.u(log2MaxFrameNum, uint64(frameNum%(1<<log2MaxFrameNum))) // frame_num
	w.flag(false)                                               // num_ref_idx_active_override_flag
	w.flag(false)                                               // ref_pic_list_modification_flag_l0
	w.flag(false)                                               // adaptive_ref_pic_marking_mode_flag
	w.se(0)                                                     // slice_qp_delta
	w.ue(uint32(s.mbW * s.mbH))                                 // mb_skip_run: all of them
	return nalUnit(nalP, w.rbsp())
}
