"""The static half: PTX->SASS lowering, control-bit decoding and atlases. Toolchain only, no driver."""
