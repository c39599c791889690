//! The kernel's numbers (`<linux/rtnetlink.h>`, `<linux/pkt_sched.h>`,
//! `<linux/pkt_cls.h>`, `<linux/tc_ematch/tc_em_meta.h>`), named as there.

#![allow(missing_docs)]

pub const RTM_NEWQDISC: u16 = 36;
pub const RTM_DELQDISC: u16 = 37;
pub const RTM_GETQDISC: u16 = 38;
pub const RTM_NEWTCLASS: u16 = 40;
pub const RTM_DELTCLASS: u16 = 41;
pub const RTM_GETTCLASS: u16 = 42;
pub const RTM_NEWTFILTER: u16 = 44;
pub const RTM_DELTFILTER: u16 = 45;
pub const RTM_GETTFILTER: u16 = 46;
/// The multicast group of qdisc, class and filter changes.
pub const RTNLGRP_TC: u32 = 4;

pub const TCA_KIND: u16 = 1;
pub const TCA_OPTIONS: u16 = 2;

pub const TCA_HFSC_RSC: u16 = 1;
pub const TCA_HFSC_FSC: u16 = 2;
pub const TCA_HFSC_USC: u16 = 3;

pub const TCA_BASIC_CLASSID: u16 = 1;
pub const TCA_BASIC_EMATCHES: u16 = 2;
pub const TCA_EMATCH_TREE_HDR: u16 = 1;
pub const TCA_EMATCH_TREE_LIST: u16 = 2;
pub const TCF_EM_META: u16 = 4;
pub const TCA_EM_META_HDR: u16 = 1;
pub const TCA_EM_META_LVALUE: u16 = 2;
pub const TCA_EM_META_RVALUE: u16 = 3;
pub const TCF_EM_OPND_EQ: u8 = 0;
/// `TCF_META_TYPE_INT << 12 | TCF_META_ID_VLAN_TAG`.
pub const META_LEFT_VLAN_TAG: u16 = 0x1000 | 46;
/// `TCF_META_TYPE_INT << 12 | TCF_META_ID_VALUE`.
pub const META_RIGHT_VALUE: u16 = 0x1000;

pub const TCA_U32_CLASSID: u16 = 1;
pub const TCA_U32_SEL: u16 = 5;
pub const TC_U32_TERMINAL: u8 = 1;

/// `ETH_P_ALL`: `protocol all`.
pub const ETH_P_ALL: u16 = 0x0003;
