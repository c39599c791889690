#!/bin/sh
# Second stage of the lab's boot (see tests/lab/run). Runs inside the VM as
# PID 1, under the initramfs' busybox sh (nothing here is read over 9p, which
# is slow under TCG), once /init has mounted the machine's root read-only on
# /newroot and the job dir on /job. Sets up /newroot, loads the networking
# modules and runs the job chrooted into /newroot, then powers the VM off.
#
# The job dir is shared with tests/lab/run on the host: job.env and job.sh
# come from there; status and dmesg go back there.
J=/job
R=/newroot
CON=/dev/ttyS0
. "$J/job.env"
o9p=trans=virtio,version=9p2000.L,msize=262144

now() { read -r u _ </proc/uptime; echo "$u"; }
t() { [ "$LAB_VERBOSE" = 1 ] && echo "lab guest: $(now)s $*" >"$CON"; }
finish() {
    dmesg >"$J/dmesg" 2>/dev/null
    sync
    poweroff -f
}
fail() {
    echo "@@NETSWITCH-LAB-FAIL $*@@" >"$CON"
    finish
}
t "root mounted"

# The chroot: tmpfs /tmp, /run (/var/run), /var/tmp, /dev/shm; the job dir at
# /run/netswitch-lab; the unpacked kernel package at /run/netswitch-kernel;
# the writable shares (the repo, ...) at their own paths.
mount -t tmpfs -o mode=1777,size=50% tmpfs "$R/tmp" || fail "tmpfs /tmp"
mount -t tmpfs -o mode=755,size=25% tmpfs "$R/run" || fail "tmpfs /run"
mkdir -p "$R/run/netswitch-lab" "$R/run/netswitch-kernel" "$R/run/netns" "$R/run/lock" "$R/run/openvswitch"
mount -o bind "$J" "$R/run/netswitch-lab" || fail "bind job dir"
mount -t 9p -o "$o9p,ro,cache=loose" kernel "$R/run/netswitch-kernel" || fail "cannot mount the kernel (9p tag kernel)"
while read -r tag path; do
    [ -n "$tag" ] || continue
    mkdir -p "$R$path" 2>/dev/null
    mount -t 9p -o "$o9p,cache=mmap" "$tag" "$R$path" || fail "cannot mount share $tag at $path"
done <"$J/shares"
mount -t proc proc "$R/proc" || fail "proc"
mount -t sysfs sysfs "$R/sys" || fail "sysfs"
mount -t devtmpfs devtmpfs "$R/dev" || fail "devtmpfs"
mkdir -p "$R/dev/pts" "$R/dev/shm"
ln -sf /proc/self/fd "$R/dev/fd"
ln -sf /proc/self/fd/0 "$R/dev/stdin"
ln -sf /proc/self/fd/1 "$R/dev/stdout"
ln -sf /proc/self/fd/2 "$R/dev/stderr"
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts "$R/dev/pts"
mount -t tmpfs -o mode=1777 tmpfs "$R/dev/shm"
mount -t tmpfs -o mode=1777 tmpfs "$R/var/tmp"
[ -L "$R/var/run" ] || mount -o bind "$R/run" "$R/var/run"
t "mounts done"

# The networking modules (dependencies first, from the initramfs).
while read -r m args; do
    # shellcheck disable=SC2086 # args are module parameters
    insmod "/modules/$m" $args 2>/dev/null
done </modules/net.order
missing=
for m in $(cat /modules/required); do
    [ -d "/sys/module/$m" ] || missing="$missing $m"
done
[ -z "$missing" ] || fail "required modules did not load:$missing"
t "modules loaded"

# Anything else is loaded on demand (request_module), from the unpacked
# package rather than the absent /lib/modules/$(uname -r). The kernel runs
# this helper in the initramfs' root.
cat >/sbin/netswitch-modprobe <<EOF
#!/bin/sh
exec chroot $R /sbin/modprobe -d /run/netswitch-kernel "\$@"
EOF
chmod 755 /sbin/netswitch-modprobe
echo /sbin/netswitch-modprobe >/proc/sys/kernel/modprobe

hostname netswitch-lab
ip link set lo up

if [ "$LAB_SHELL" = 1 ]; then
    # shellcheck disable=SC2086 # "rows R cols C"
    [ -n "${LAB_STTY:-}" ] && stty $LAB_STTY <"$CON"
    setsid -c env -i chroot "$R" /bin/bash /run/netswitch-lab/job.sh <>"$CON" >&0 2>&0
    echo "0 0" >"$J/status"
    finish
fi

# Kernel messages stay off the console while CMD runs (they are saved to the
# job dir); emergencies still show.
dmesg -n 1
echo "@@NETSWITCH-LAB-BEGIN-$LAB_NONCE@@" >"$CON"
start=$(now)
# CMD gets the serial console as its stdout/stderr (a tty: no pipe that a
# leftover background process could hold open); tests/lab/run strips colours
# when its own output is not a terminal.
env -i chroot "$R" /usr/bin/timeout -k 10 "$LAB_TIMEOUT" /bin/bash /run/netswitch-lab/job.sh \
    </dev/null >"$CON" 2>&1
rc=$?
end=$(now)
timed_out=0
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    [ $((${end%.*} - ${start%.*})) -ge "$LAB_TIMEOUT" ] && timed_out=1
fi
echo "@@NETSWITCH-LAB-END-$LAB_NONCE rc=$rc@@" >"$CON"
echo "$rc $timed_out" >"$J/status"
finish
