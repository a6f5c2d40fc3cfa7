()=>{b.variant=(a,r)=>{a&&null!=r&&(S["exp:"+a]=""+r,I("variant",a,{variant:""+r}))},b.identify=a=>{/^[\w.:-]{1,64}$/.test(a)&&(S.uid=a)}}
