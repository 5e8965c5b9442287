//! RTP (RFC 3550 §5) and RTCP (RFC 3550 §6) wire formats as zero-copy views, and RFC 5761 demultiplexing.
//!
//! [`RtpPacket::parse`] borrows the datagram and validates version, CSRC list, header extension and padding;
//! [`RtpPacket::write`] prints it back byte for byte. [`RtcpCompound::parse`] validates a compound packet
//! (RFC 3550 A.2) and [`RtcpCompound::packets`] walks it. [`is_rtcp`] tells RTCP from RTP on a muxed port.

use crate::MediaError;

/// The only RTP/RTCP version this crate accepts.
pub const RTP_VERSION: u8 = 2;
/// Length of the fixed RTP header (no CSRCs, no extension).
pub const RTP_HEADER_LEN: usize = 12;

/// A borrowed, validated view of one RTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    raw: &'a [u8],
    /// Padding bit (P).
    pub padding: bool,
    /// Marker bit (M).
    pub marker: bool,
    /// Payload type (7 bits).
    pub payload_type: u8,
    /// Sequence number.
    pub sequence: u16,
    /// RTP timestamp.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    csrc: &'a [u8],
    extension: Option<(u16, &'a [u8])>,
    payload: &'a [u8],
    padding_len: u8,
}

impl<'a> RtpPacket<'a> {
    /// Parses and validates `raw` as an RTP packet without copying anything.
    pub fn parse(raw: &'a [u8]) -> Result<Self, MediaError> {
        need("RTP header", raw, RTP_HEADER_LEN)?;
        let version = raw[0] >> 6;
        if version != RTP_VERSION {
            return Err(MediaError::BadVersion(version));
        }
        let padding = raw[0] & 0x20 != 0;
        let has_extension = raw[0] & 0x10 != 0;
        let csrc_count = usize::from(raw[0] & 0x0f);
        let mut pos = RTP_HEADER_LEN + 4 * csrc_count;
        need("RTP CSRC list", raw, pos)?;
        let csrc = &raw[RTP_HEADER_LEN..pos];
        let extension = if has_extension {
            need("RTP header extension", raw, pos + 4)?;
            let profile = u16::from_be_bytes([raw[pos], raw[pos + 1]]);
            let words = usize::from(u16::from_be_bytes([raw[pos + 2], raw[pos + 3]]));
            let end = pos + 4 + 4 * words;
            need("RTP header extension", raw, end)?;
            let data = &raw[pos + 4..end];
            pos = end;
            Some((profile, data))
        } else {
            None
        };
        let mut end = raw.len();
        let mut padding_len = 0;
        if padding {
            padding_len = raw[end - 1];
            if padding_len == 0 || usize::from(padding_len) > end - pos {
                return Err(MediaError::BadPadding(padding_len));
            }
            end -= usize::from(padding_len);
        }
        Ok(Self {
            raw,
            padding,
            marker: raw[1] & 0x80 != 0,
            payload_type: raw[1] & 0x7f,
            sequence: u16::from_be_bytes([raw[2], raw[3]]),
            timestamp: u32::from_be_bytes([raw[4], raw[5], raw[6], raw[7]]),
            ssrc: u32::from_be_bytes([raw[8], raw[9], raw[10], raw[11]]),
            csrc,
            extension,
            payload: &raw[pos..end],
            padding_len,
        })
    }

    /// The version field (always [`RTP_VERSION`] for a parsed packet).
    pub fn version(&self) -> u8 {
        self.raw[0] >> 6
    }

    /// Whether the extension bit (X) is set.
    pub fn has_extension(&self) -> bool {
        self.extension.is_some()
    }

    /// The CSRC count (CC).
    pub fn csrc_count(&self) -> u8 {
        (self.csrc.len() / 4) as u8
    }

    /// The contributing sources, in order.
    pub fn csrcs(&self) -> impl Iterator<Item = u32> + 'a {
        self.csrc
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
    }

    /// The header extension as (profile-defined 16 bits, data), if present.
    pub fn extension(&self) -> Option<(u16, &'a [u8])> {
        self.extension
    }

    /// The payload, without padding.
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// Number of padding bytes at the end (0 without the P bit).
    pub fn padding_len(&self) -> u8 {
        self.padding_len
    }

    /// The whole packet as received.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.raw
    }

    /// Prints the packet from its fields into `out` (padding bytes are written as zeros plus the count).
    pub fn write(&self, out: &mut Vec<u8>) {
        let header = RtpHeader {
            marker: self.marker,
            payload_type: self.payload_type,
            sequence: self.sequence,
            timestamp: self.timestamp,
            ssrc: self.ssrc,
        };
        header.write_with(self.csrc, self.extension, self.payload, self.padding_len, out);
    }
}

/// The fields needed to build a plain RTP packet (no CSRCs, no extension, no padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RtpHeader {
    /// Marker bit.
    pub marker: bool,
    /// Payload type (7 bits; the high bit is ignored).
    pub payload_type: u8,
    /// Sequence number.
    pub sequence: u16,
    /// RTP timestamp.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
}

impl RtpHeader {
    /// Appends a packet with this header and `payload` to `out`.
    pub fn write(&self, payload: &[u8], out: &mut Vec<u8>) {
        self.write_with(&[], None, payload, 0, out);
    }

    fn write_with(
        &self,
        csrc: &[u8],
        extension: Option<(u16, &[u8])>,
        payload: &[u8],
        padding_len: u8,
        out: &mut Vec<u8>,
    ) {
        let mut b0 = RTP_VERSION << 6 | ((csrc.len() / 4) as u8 & 0x0f);
        if padding_len > 0 {
            b0 |= 0x20;
        }
        if extension.is_some() {
            b0 |= 0x10;
        }
        out.push(b0);
        out.push(u8::from(self.marker) << 7 | (self.payload_type & 0x7f));
        out.extend_from_slice(&self.sequence.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        out.extend_from_slice(csrc);
        if let Some((profile, data)) = extension {
            out.extend_from_slice(&profile.to_be_bytes());
            out.extend_from_slice(&((data.len() / 4) as u16).to_be_bytes());
            out.extend_from_slice(data);
        }
        out.extend_from_slice(payload);
        if padding_len > 0 {
            out.extend(std::iter::repeat_n(0, usize::from(padding_len) - 1));
            out.push(padding_len);
        }
    }
}

/// Whether a datagram on a muxed RTP/RTCP port is RTCP (RFC 5761 §4: payload-type byte, marker masked, in 64–95).
pub fn is_rtcp(datagram: &[u8]) -> bool {
    datagram.len() >= 2 && datagram[0] >> 6 == RTP_VERSION && (64..=95).contains(&(datagram[1] & 0x7f))
}

/// RTCP packet types (RFC 3550 §12.1 and later registrations).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RtcpType {
    /// 200: sender report.
    SenderReport,
    /// 201: receiver report.
    ReceiverReport,
    /// 202: source description.
    SourceDescription,
    /// 203: goodbye.
    Goodbye,
    /// 204: application-defined.
    App,
    /// Any other type (feedback 205/206, XR 207, …), carried through untouched.
    Other(u8),
}

impl RtcpType {
    /// Maps the packet-type byte.
    pub fn from_byte(pt: u8) -> Self {
        match pt {
            200 => Self::SenderReport,
            201 => Self::ReceiverReport,
            202 => Self::SourceDescription,
            203 => Self::Goodbye,
            204 => Self::App,
            other => Self::Other(other),
        }
    }

    /// The packet-type byte.
    pub fn to_byte(self) -> u8 {
        match self {
            Self::SenderReport => 200,
            Self::ReceiverReport => 201,
            Self::SourceDescription => 202,
            Self::Goodbye => 203,
            Self::App => 204,
            Self::Other(pt) => pt,
        }
    }
}

/// One packet inside an RTCP compound packet, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtcpPacket<'a> {
    raw: &'a [u8],
    /// Packet type.
    pub packet_type: RtcpType,
    /// The 5-bit count field (reception reports, SDES chunks, BYE sources, or APP subtype).
    pub count: u8,
    /// Padding bit.
    pub padding: bool,
}

impl<'a> RtcpPacket<'a> {
    /// The whole packet including its 4-byte header.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.raw
    }

    /// The body after the 4-byte common header (padding included, if any).
    pub fn body(&self) -> &'a [u8] {
        &self.raw[4..]
    }

    /// The first SSRC of the body: the sender for SR/RR/APP, the first chunk for SDES, the first source for BYE.
    pub fn ssrc(&self) -> Option<u32> {
        read_u32(self.raw, 4)
    }

    /// SR sender info: (NTP timestamp, RTP timestamp, packet count, octet count).
    pub fn sender_info(&self) -> Option<(u64, u32, u32, u32)> {
        if self.packet_type != RtcpType::SenderReport {
            return None;
        }
        let ntp = (u64::from(read_u32(self.raw, 8)?) << 32) | u64::from(read_u32(self.raw, 12)?);
        Some((
            ntp,
            read_u32(self.raw, 16)?,
            read_u32(self.raw, 20)?,
            read_u32(self.raw, 24)?,
        ))
    }

    /// BYE: the sources leaving.
    pub fn bye_sources(&self) -> impl Iterator<Item = u32> + 'a {
        let n = if self.packet_type == RtcpType::Goodbye {
            usize::from(self.count)
        } else {
            0
        };
        let raw = self.raw;
        (0..n).filter_map(move |i| read_u32(raw, 4 + 4 * i))
    }

    /// APP: the four-character name.
    pub fn app_name(&self) -> Option<[u8; 4]> {
        if self.packet_type != RtcpType::App {
            return None;
        }
        self.raw.get(8..12).and_then(|n| n.try_into().ok())
    }

    /// SDES: the CNAME (item type 1) of the first chunk, if present and well formed.
    pub fn cname(&self) -> Option<&'a [u8]> {
        if self.packet_type != RtcpType::SourceDescription || self.count == 0 {
            return None;
        }
        let mut pos = 8;
        loop {
            let kind = *self.raw.get(pos)?;
            if kind == 0 {
                return None;
            }
            let len = usize::from(*self.raw.get(pos + 1)?);
            let value = self.raw.get(pos + 2..pos + 2 + len)?;
            if kind == 1 {
                return Some(value);
            }
            pos += 2 + len;
        }
    }
}

/// A validated RTCP compound packet (RFC 3550 A.2), borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtcpCompound<'a> {
    raw: &'a [u8],
}

impl<'a> RtcpCompound<'a> {
    /// Validates `raw`: version 2 throughout, lengths adding up exactly, the first packet an SR or RR,
    /// and padding only on the last packet.
    pub fn parse(raw: &'a [u8]) -> Result<Self, MediaError> {
        need("RTCP header", raw, 4)?;
        let mut pos = 0;
        let mut first = true;
        while pos < raw.len() {
            let rest = &raw[pos..];
            need("RTCP header", rest, 4)?;
            let version = rest[0] >> 6;
            if version != RTP_VERSION {
                return Err(MediaError::BadVersion(version));
            }
            let len = 4 * (usize::from(u16::from_be_bytes([rest[2], rest[3]])) + 1);
            need("RTCP packet", rest, len)?;
            if first && !matches!(rest[1], 200 | 201) {
                return Err(MediaError::BadRtcp("first packet is not SR or RR"));
            }
            if rest[0] & 0x20 != 0 {
                if pos + len != raw.len() {
                    return Err(MediaError::BadRtcp("padding before the last packet"));
                }
                let pad = rest[len - 1];
                if pad == 0 || usize::from(pad) > len - 4 {
                    return Err(MediaError::BadPadding(pad));
                }
            }
            first = false;
            pos += len;
        }
        Ok(Self { raw })
    }

    /// The packets of the compound, in order.
    pub fn packets(&self) -> RtcpIter<'a> {
        RtcpIter { rest: self.raw }
    }

    /// The whole compound packet as received.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.raw
    }
}

/// Iterator over the packets of a validated [`RtcpCompound`].
#[derive(Debug, Clone)]
pub struct RtcpIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for RtcpIter<'a> {
    type Item = RtcpPacket<'a>;

    fn next(&mut self) -> Option<RtcpPacket<'a>> {
        let hdr = self.rest.get(..4)?;
        let len = 4 * (usize::from(u16::from_be_bytes([hdr[2], hdr[3]])) + 1);
        let raw = self.rest.get(..len)?;
        self.rest = &self.rest[len..];
        Some(RtcpPacket {
            raw,
            packet_type: RtcpType::from_byte(raw[1]),
            count: raw[0] & 0x1f,
            padding: raw[0] & 0x20 != 0,
        })
    }
}

fn need(what: &'static str, raw: &[u8], need: usize) -> Result<(), MediaError> {
    if raw.len() < need {
        Err(MediaError::Truncated {
            what,
            need,
            have: raw.len(),
        })
    } else {
        Ok(())
    }
}

fn read_u32(raw: &[u8], at: usize) -> Option<u32> {
    let b = raw.get(at..at + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcmu_packet() -> Vec<u8> {
        let mut out = Vec::new();
        RtpHeader {
            marker: true,
            payload_type: 0,
            sequence: 0xBEEF,
            timestamp: 160_000,
            ssrc: 0x1234_5678,
        }
        .write(&[0xFF; 160], &mut out);
        out
    }

    #[test]
    fn parses_fixed_header_and_payload_without_copy() {
        let bytes = pcmu_packet();
        let p = RtpPacket::parse(&bytes).unwrap();
        assert_eq!(p.version(), 2);
        assert!(p.marker && !p.padding && !p.has_extension());
        assert_eq!(
            (p.payload_type, p.sequence, p.timestamp, p.ssrc),
            (0, 0xBEEF, 160_000, 0x1234_5678)
        );
        assert_eq!(p.csrc_count(), 0);
        assert_eq!(p.payload().len(), 160);
        assert_eq!(p.payload().as_ptr(), bytes[12..].as_ptr());
    }

    #[test]
    fn csrc_extension_and_padding_round_trip() {
        let mut bytes = vec![0xB2, 0x08, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
        bytes.extend_from_slice(&[0, 0, 0, 10, 0, 0, 0, 11]); // two CSRCs
        bytes.extend_from_slice(&[0xBE, 0xDE, 0, 1, 1, 2, 3, 4]); // one-word extension
        bytes.extend_from_slice(&[9, 9, 9]); // payload
        bytes.extend_from_slice(&[0, 0, 3]); // padding
        let p = RtpPacket::parse(&bytes).unwrap();
        assert_eq!(p.csrcs().collect::<Vec<_>>(), vec![10, 11]);
        assert_eq!(p.extension(), Some((0xBEDE, &[1u8, 2, 3, 4][..])));
        assert_eq!(p.payload(), &[9, 9, 9]);
        assert_eq!(p.padding_len(), 3);
        assert_eq!(p.payload_type, 8);
        let mut out = Vec::new();
        p.write(&mut out);
        assert_eq!(out, bytes);
        assert_eq!(RtpPacket::parse(&out).unwrap(), RtpPacket { raw: &out, ..p });
    }

    #[test]
    fn rejects_bad_rtp_as_values() {
        assert!(matches!(
            RtpPacket::parse(&[0x80; 11]),
            Err(MediaError::Truncated { .. })
        ));
        let mut b = pcmu_packet();
        b[0] = 0x40;
        assert_eq!(RtpPacket::parse(&b), Err(MediaError::BadVersion(1)));
        let mut b = pcmu_packet();
        b[0] = 0x8F; // 15 CSRCs claimed, 160 bytes present is enough; 13 bytes is not
        assert!(RtpPacket::parse(&b[..13]).is_err());
        let mut b = pcmu_packet();
        b[0] |= 0x20;
        *b.last_mut().unwrap() = 0;
        assert_eq!(RtpPacket::parse(&b), Err(MediaError::BadPadding(0)));
        *b.last_mut().unwrap() = 200;
        assert_eq!(RtpPacket::parse(&b), Err(MediaError::BadPadding(200)));
        let mut b = pcmu_packet();
        b[0] |= 0x10;
        b[12..16].copy_from_slice(&[0, 0, 0xFF, 0xFF]);
        assert!(matches!(RtpPacket::parse(&b), Err(MediaError::Truncated { .. })));
    }

    #[test]
    fn never_panics_on_any_short_input() {
        for len in 0..40 {
            for fill in [0u8, 0x80, 0xBF, 0xFF] {
                let b = vec![fill; len];
                let _ = RtpPacket::parse(&b);
                let _ = RtcpCompound::parse(&b);
                let _ = is_rtcp(&b);
            }
        }
    }

    fn sr_sdes_bye_app() -> Vec<u8> {
        let mut b = vec![0x80, 200, 0, 6, 0, 0, 0, 1];
        b.extend_from_slice(&[0, 0, 0, 5, 0x80, 0, 0, 0, 0, 0, 0, 160, 0, 0, 0, 7, 0, 0, 4, 0]);
        // SDES, one chunk: CNAME "ab", end, pad to word
        b.extend_from_slice(&[0x81, 202, 0, 3, 0, 0, 0, 1, 1, 2, b'a', b'b', 0, 0, 0, 0]);
        // BYE with two sources
        b.extend_from_slice(&[0x82, 203, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2]);
        // APP subtype 3 name "PNSW"
        b.extend_from_slice(&[0x83, 204, 0, 2, 0, 0, 0, 1, b'P', b'N', b'S', b'W']);
        b
    }

    #[test]
    fn walks_compound_rtcp() {
        let b = sr_sdes_bye_app();
        let c = RtcpCompound::parse(&b).unwrap();
        let packets: Vec<_> = c.packets().collect();
        let types: Vec<_> = packets.iter().map(|p| p.packet_type).collect();
        assert_eq!(
            types,
            vec![
                RtcpType::SenderReport,
                RtcpType::SourceDescription,
                RtcpType::Goodbye,
                RtcpType::App
            ]
        );
        assert_eq!(packets[0].ssrc(), Some(1));
        assert_eq!(
            packets[0].sender_info(),
            Some(((5u64 << 32) | 0x8000_0000, 160, 7, 1024))
        );
        assert_eq!(packets[1].cname(), Some(&b"ab"[..]));
        assert_eq!(packets[2].bye_sources().collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(packets[3].app_name(), Some(*b"PNSW"));
        assert_eq!(packets[3].count, 3);
        assert_eq!(packets.iter().map(|p| p.as_bytes().len()).sum::<usize>(), b.len());
        assert_eq!(RtcpType::from_byte(207), RtcpType::Other(207));
        assert_eq!(RtcpType::Goodbye.to_byte(), 203);
    }

    #[test]
    fn rejects_invalid_compounds() {
        let b = sr_sdes_bye_app();
        // starts with SDES
        assert!(matches!(
            RtcpCompound::parse(&b[28..]),
            Err(MediaError::BadRtcp(_))
        ));
        // length overruns
        assert!(matches!(
            RtcpCompound::parse(&b[..30]),
            Err(MediaError::Truncated { .. })
        ));
        // padding on a non-last packet
        let mut p = b.clone();
        p[0] |= 0x20;
        assert!(matches!(RtcpCompound::parse(&p), Err(MediaError::BadRtcp(_))));
        // receiver report alone is fine
        assert!(RtcpCompound::parse(&[0x80, 201, 0, 1, 0, 0, 0, 9]).is_ok());
    }

    #[test]
    fn demux_follows_rfc5761() {
        assert!(is_rtcp(&[0x80, 200]));
        assert!(is_rtcp(&[0x81, 201, 0, 7]));
        assert!(is_rtcp(&[0x80, 192]));
        assert!(is_rtcp(&[0x80, 223]));
        assert!(!is_rtcp(&pcmu_packet()));
        assert!(!is_rtcp(&[0x80, 0x80 | 8])); // PCMA with marker
        assert!(!is_rtcp(&[0x80, 101])); // telephone-event
        assert!(!is_rtcp(&[0x80, 96]));
        assert!(!is_rtcp(&[0x00, 200])); // wrong version (STUN-like)
        assert!(!is_rtcp(&[0x80]));
    }
}
