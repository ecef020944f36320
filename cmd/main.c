/* placeholder until cmd/main.c lands */
int main(void) { return 0; }
