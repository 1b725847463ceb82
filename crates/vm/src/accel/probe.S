# The accelerator probe's guest (crates/vm/src/accel.rs): a multiboot image QEMU loads with
# `-kernel` and enters in 32-bit protected mode. It writes 0x01 to the debug console (port
# 0x402), touches one word in every 4 KiB page from 2 MiB to 60 MiB (a boot's first touches of
# fresh memory, the cost nested virtualisation makes dear), writes 0x02 and halts.
#
# Rebuild the bytes in accel.rs with:
#   as --32 -o probe.o probe.S && objcopy -O binary -j .text probe.o probe.bin && xxd -i probe.bin
    .set BASE, 0x100000
    .code32
    .globl _start
_start:
header:
    .long 0x1BADB002                    # multiboot magic
    .long 0x00010000                    # flags: the address fields below are valid
    .long -(0x1BADB002 + 0x00010000)    # checksum
    .long BASE                          # header_addr
    .long BASE                          # load_addr
    .long 0                             # load_end_addr: the whole file
    .long 0                             # bss_end_addr: none
    .long BASE + (entry - header)       # entry_addr
entry:
    mov $0x402, %dx
    mov $1, %al
    out %al, %dx
    mov $0x200000, %edi
1:  movl $1, (%edi)
    add $4096, %edi
    cmp $0x3C00000, %edi
    jb 1b
    mov $2, %al
    out %al, %dx
2:  hlt
    jmp 2b
