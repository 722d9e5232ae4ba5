/*
 * forker.c - fork behaviour: the parent leaks one handle made before the
 * fork; a first child deletes nothing, makes and leaks one handle of its
 * own (its report and trace cover only that one); a second child only
 * _exits and a third only execs /bin/true (neither leaves a trace). The
 * child uses the inherited handle, which stays valid.
 */
#include <handle/handle.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static int a, b;

__attribute__((noinline)) static handle_t parent_site(void)
{
    return handle_new_tagged(&a, "parent");
}

__attribute__((noinline)) static handle_t child_site(void)
{
    return handle_new_tagged(&b, "child");
}

int main(void)
{
    handle_t inherited = parent_site();
    fflush(stdout);
    pid_t c1 = fork();
    if (c1 == 0) {
        if (handle_value(inherited) != &a)
            _exit(99);
        child_site();
        printf("child1 %d live=%zu\n", (int)getpid(), handle_live_count());
        exit(0);
    }
    pid_t c2 = fork();
    if (c2 == 0)
        _exit(0);
    pid_t c3 = fork();
    if (c3 == 0) {
        execl("/bin/true", "true", (char *)NULL);
        _exit(98);
    }
    int st1, st2, st3;
    waitpid(c1, &st1, 0);
    waitpid(c2, &st2, 0);
    waitpid(c3, &st3, 0);
    printf("parent %d child1=%d status1=%d status2=%d status3=%d\n", (int)getpid(), (int)c1,
           WEXITSTATUS(st1), WEXITSTATUS(st2), WEXITSTATUS(st3));
    return 0;
}
